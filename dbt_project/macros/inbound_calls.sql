{#- The numbers fct_inbound_call follows from call to call: an outside number with digits (not `anonymous`). -#}
{% macro known_number(column) -%}
    ({{ column }} is not null and regexp_matches({{ column }}, '[0-9]'))
{%- endmacro %}

{#- fct_inbound_call's pre-hook on an incremental build: the held rows of calls that changed and are no longer
    incoming calls from a known number (the build's rows replace the others by key). Runs before the model, so
    that the watermark is the one the model's SQL was compiled with. -#}
{% macro delete_calls_no_longer_inbound() -%}
    {%- set watermark = lake_watermark() -%}
    {%- if watermark is not none -%}
        delete from {{ this }}
        where call_key in (
            select call_key from {{ ref('fct_call') }}
            where extracted_at > {{ watermark }}
                and not coalesce(direction = 'inbound' and {{ known_number('remote_number') }}, false)
        )
    {%- endif -%}
{%- endmacro %}
