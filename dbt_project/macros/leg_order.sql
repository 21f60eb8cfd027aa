{#- A leg's place in time, as one number: its start, with ties (legs of one call often start in the same second)
    broken by its key, so that every build (incremental or full) picks the same first or latest leg. A single
    integer keeps arg_min/arg_max cheap; a struct ordering key made fct_call twice as slow on 10M legs. -#}
{% macro leg_order() -%}
    (epoch_us(started_at)::hugeint * 4294967296 + hash(cdr_key) % 4294967296)
{%- endmacro %}
