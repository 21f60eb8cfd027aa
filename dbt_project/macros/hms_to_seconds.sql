{#- "HH:MM:SS" (hours may exceed 24) to whole seconds; null for anything else, or past the var max_leg_seconds. -#}
{% macro hms_to_seconds(column) -%}
    {{ bounded_seconds(
        "case when regexp_full_match(" ~ column ~ ", '[0-9]{1,9}:[0-5][0-9]:[0-5][0-9]') then "
        ~ "cast(split_part(" ~ column ~ ", ':', 1) as bigint) * 3600 + cast(split_part(" ~ column ~ ", ':', 2) as bigint) * 60 "
        ~ "+ cast(split_part(" ~ column ~ ", ':', 3) as bigint) end"
    ) }}
{%- endmacro %}
