{#- "HH:MM:SS" (hours may exceed 24) to whole seconds; null for anything else. -#}
{% macro hms_to_seconds(column) -%}
    case when regexp_full_match({{ column }}, '[0-9]+:[0-5][0-9]:[0-5][0-9]')
         then cast(split_part({{ column }}, ':', 1) as integer) * 3600
            + cast(split_part({{ column }}, ':', 2) as integer) * 60
            + cast(split_part({{ column }}, ':', 3) as integer)
    end
{%- endmacro %}
