{#- Values no call can have become null, so that no single record can fail a build (a 20-digit duration once made
    every build fail with "Interval value out of range"); int models list them as invalid (marts.dq_unmapped). -#}

{#- Whole seconds of a leg part (ring, talk, wait): 0 up to the var max_leg_seconds, else null. -#}
{% macro bounded_seconds(expr) -%}
    (case when try_cast({{ expr }} as bigint) between 0 and {{ var('max_leg_seconds') }}
        then try_cast({{ expr }} as integer) end)
{%- endmacro %}

{#- Unix seconds as a timestamp, for 2000-01-01 up to 2100-01-01; else null. -#}
{% macro bounded_epoch(expr) -%}
    (case when try_cast({{ expr }} as double) between 946684800 and 4102444800
        then to_timestamp(try_cast({{ expr }} as double)) end)
{%- endmacro %}

{#- One entry of a leg's invalid values: `raw` as sent where it was given but `valid` is null. -#}
{% macro invalid_entry(field, raw, valid) -%}
    {'field': '{{ field }}', 'affects': 'invalid',
     'value': case when {{ raw }} is not null and {{ valid }} is null then cast({{ raw }} as varchar) end}
{%- endmacro %}

{% macro invalid_values(entries) -%}
    list_filter([{{ entries | join(', ') }}], lambda item: item.value is not null)
{%- endmacro %}
