{#- Incremental models read only records read since the last build, less a margin.

    The margin covers a pull that stamped its rows before a build ran but made its files visible after it
    (a pull stamps `_extracted_at` when it starts; the pull tasks time out well within the margin). Records
    inside the margin are read again and merged by key, which changes nothing. The watermark is a literal, not
    a subquery, so that DuckDB prunes the lake's Parquet row groups (and the tables' zones) by their statistics. -#}
{% macro lake_watermark() -%}
    {%- if is_incremental() and execute -%}
        {%- set newest = run_query('select max(extracted_at) from ' ~ this).columns[0].values()[0] -%}
        {%- if newest is not none -%}
            {{- return("timestamptz " ~ sql_string(newest) ~ " - interval '" ~ var('lake_lookback_hours') ~ " hours'") -}}
        {%- endif -%}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{% macro lake_watermark_filter(column='extracted_at') -%}
    {%- set watermark = lake_watermark() -%}
    {%- if watermark is not none %}
    where {{ column }} > {{ watermark }}
    {%- endif -%}
{%- endmacro %}
