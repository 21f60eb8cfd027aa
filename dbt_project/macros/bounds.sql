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

{#- A known field's value as sent, for counting: the typed lake column where it could be typed, else the field as
    the record carried it (`_raw`), so that a value the lake could not type (a word, a fraction, an object where a
    number belongs) is counted, not lost; `""` is how sources write a missing value, not a value. `_raw` is read
    only for rows whose typed value is null. -#}
{% macro sent_value(typed, key) -%}
    coalesce(cast({{ typed }} as varchar), nullif(trim(json_extract_string(_raw, '$."{{ key }}"')), ''))
{%- endmacro %}

{#- Talk time belongs to an answered leg only: a leg that was not answered talked for 0 seconds, whatever a
    duration field says (a queue's wait, a busy line's seconds). Where a source reported talk on a leg whose status
    says it was not answered (a voicemail's message excepted), the seconds are listed in `unmapped_values`, so the
    contradiction is counted, not lost. -#}
{% macro talk_when_answered(status, seconds) -%}
    (case when {{ status }} = 'answered' then {{ seconds }} else 0 end)
{%- endmacro %}

{% macro talk_outside_answer_entry(field, status, seconds) -%}
    {'field': '{{ field }}', 'affects': 'talk_seconds',
     'value': case when {{ status }} not in ('answered', 'voicemail') and {{ seconds }} > 0
         then cast({{ seconds }} as varchar) end}
{%- endmacro %}

{#- A time written as text (quotes around it allowed, as KAZOO's 2015 examples write them), read as UTC with
    `format` (strptime), or as ISO 8601 without one; 2000-01-01 up to 2100-01-01, else null. -#}
{% macro bounded_utc_text(expr, format=none) -%}
    {%- if format -%}
        {%- set parsed = "timezone('UTC', try_strptime(trim(" ~ expr ~ ", '\" '), '" ~ format ~ "'))" -%}
    {%- else -%}
        {%- set parsed = "try_cast(trim(" ~ expr ~ ", '\" ') as timestamptz)" -%}
    {%- endif -%}
    (case when {{ parsed }} >= timestamptz '2000-01-01 00:00:00+00' and {{ parsed }} < timestamptz '2100-01-01 00:00:00+00'
        then {{ parsed }} end)
{%- endmacro %}

{#- An instant of a call: 2000-01-01 up to 2100-01-01, else null. -#}
{% macro bounded_instant(expr) -%}
    (case when {{ expr }} >= timestamptz '2000-01-01 00:00:00+00' and {{ expr }} < timestamptz '2100-01-01 00:00:00+00'
        then {{ expr }} end)
{%- endmacro %}
