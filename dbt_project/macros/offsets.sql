{#- Seconds east of UTC as `+HH:MM`, rounded to the quarter hour time zones come in. -#}
{% macro offset_text(seconds) -%}
    (case when ({{ seconds }}) is not null then
        (case when ({{ seconds }}) < 0 then '-' else '+' end)
        || lpad(cast(cast(round(abs({{ seconds }}) / 900) as bigint) * 15 // 60 as varchar), 2, '0') || ':'
        || lpad(cast(cast(round(abs({{ seconds }}) / 900) as bigint) * 15 % 60 as varchar), 2, '0')
    end)
{%- endmacro %}
