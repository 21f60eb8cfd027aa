{#- A record read more than once (re-runs, look-back reads, re-drained batches, re-sent webhooks) counts once:
    the latest read wins; read_order breaks ties within one read (the interval, or when a re-send arrived).
    Where `first_read_wins` (a pushed source: a re-send must not rewrite what was first received), the earliest
    read wins instead, and of copies received at the same time, the one that reached the lake first (the one an
    incremental build already holds). -#}
{% macro keep_latest_read(key) -%}
    qualify row_number() over (
        partition by {{ key }}
        order by
            case when coalesce(first_read_wins, false)
                then -epoch_us(coalesce(read_order, extracted_at)) else epoch_us(extracted_at) end desc,
            read_order desc nulls last,
            case when coalesce(first_read_wins, false) then -epoch_us(extracted_at) end desc nulls last
    ) = 1
{%- endmacro %}
