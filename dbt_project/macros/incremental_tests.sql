{#- Data tests on an incremental build check only what the build can have changed, where that proves the same as
    checking every row.

    cdr.warehouse.build passes the var `tests_changed_since` on an incremental build: the newest `extracted_at` of
    fct_cdr after the last build whose tests all passed. Less the var lake_lookback_hours (the margin the models
    read the lake again from, macros/lake_watermark.sql), every row an incremental build since then wrote or read
    anew has a later `extracted_at`: fct_cdr replaces legs by key from that watermark, fct_call recomputes the
    calls that gained a leg (its `extracted_at` is its newest leg's), the views read the lake's new files. Rows
    before it were checked by that build, and builds since then changed none of them.

    So on a relation with an `extracted_at` column:
    - a test of each row on its own (not_null, accepted_values, relationships from the child's side, no_rows_where)
      checks the rows read since;
    - `unique` checks, over the whole relation, the keys that occur in those rows (a new row that repeats an old
      key is caught);
    - `daily_share_at_most` judges, over all their legs, the days those rows fall on.
    Any other test, a relation without `extracted_at` (dimensions rebuilt whole, seeds), and every test of a full
    build, of a nightly `build_and_publish(full_tests=True)` or of a plain `dbt test` (no var) check every row.
    dbt replaces a generic test's `model` with get_where_subquery(relation); this is dbt's macro with that rule
    added, and the test's own `where` config kept. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set changed = changed_rows_filter(relation) -%}
    {%- set filters = [] -%}
    {%- if where %}{% do filters.append('(' ~ where ~ ')') %}{% endif -%}
    {%- if changed %}{% do filters.append(changed) %}{% endif -%}
    {%- if filters -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{% macro changed_rows_filter(relation) -%}
    {%- set since = var('tests_changed_since', none) -%}
    {%- if not since or not execute or relation is string -%}{{ return(none) }}{%- endif -%}
    {%- set test = model.get('test_metadata') or {} -%}
    {%- set kind = test.get('name') -%}
    {%- set kwargs = test.get('kwargs') or {} -%}
    {%- set row_wise = ['not_null', 'accepted_values', 'relationships', 'no_rows_where'] -%}
    {%- if kind not in row_wise + ['unique', 'daily_share_at_most'] -%}{{ return(none) }}{%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {%- if 'extracted_at' not in columns -%}{{ return(none) }}{%- endif -%}
    {%- set read_since -%}
        extracted_at > timestamptz {{ sql_string(since) }} - interval '{{ var("lake_lookback_hours") }} hours'
    {%- endset -%}
    {%- if kind in row_wise -%}
        {{ return(read_since) }}
    {%- elif kind == 'unique' and kwargs.get('column_name') -%}
        {%- set column = kwargs.get('column_name') -%}
        {{ return(column ~ ' in (select ' ~ column ~ ' from ' ~ relation ~ ' where ' ~ read_since ~ ')') }}
    {%- elif kind == 'daily_share_at_most' and 'date_key' in columns -%}
        {{ return('date_key in (select date_key from ' ~ relation ~ ' where ' ~ read_since ~ ')') }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
