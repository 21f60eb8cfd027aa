{#- A record read more than once (re-runs, look-back reads, re-drained batches, re-sent webhooks) counts once:
    the latest read wins; read_order breaks ties within one read (the interval, or when a re-send arrived). -#}
{% macro keep_latest_read(key) -%}
    qualify row_number() over (partition by {{ key }} order by extracted_at desc, read_order desc nulls last) = 1
{%- endmacro %}
