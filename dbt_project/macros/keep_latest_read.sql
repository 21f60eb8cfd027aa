{#- A record read more than once (re-runs, overlapping or look-back reads) counts once: the latest read wins. -#}
{% macro keep_latest_read(key) -%}
    qualify row_number() over (partition by {{ key }} order by extracted_at desc, lake_interval_start desc) = 1
{%- endmacro %}
