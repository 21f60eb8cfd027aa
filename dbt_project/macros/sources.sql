{#- What differs by source, read from the registry's dbt side: the var `cdr_sources` (the names, known while
    parsing) and the seed `cdr_sources` (each source's defaults and rules), both written from
    plugins/cdr/registry.py. -#}

{#- Every source's int_<source>__<suffix> model, unioned by column name: a new source's model joins the union
    through the registry alone. Columns a source does not have are null. -#}
{% macro union_source_models(suffix) -%}
    {%- for name in var('cdr_sources') %}
    select * from {{ ref('int_' ~ name ~ '__' ~ suffix) }}
    {%- if not loop.last %}
    union all by name
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- A column of the seed cdr_sources for one source, as a scalar: e.g. its default phone region. Models that use it
    list the seed as an input of their unit tests. -#}
{% macro source_default(source_name, column) -%}
    (select {{ column }} from {{ ref('cdr_sources') }} where source = '{{ source_name }}')
{%- endmacro %}

{#- `text` as a SQL string literal: the one way a path, URL or setting is written into the project's SQL (its quotes
    doubled, so that whatever it holds stays data). Python's twin is cdr.warehouse.duckfile.sql_string. Source YAML cannot
    call it: dbt renders a source's properties before macros exist, so the lake location of every source is
    written once, quoted the same way, in dbt_project.yml (sources: +meta: external_location). -#}
{% macro sql_string(text) -%}
    {{- return("'" ~ (text | string | replace("'", "''")) ~ "'") -}}
{%- endmacro %}

{#- The raw lake the staging sources read (as dbt_project.yml's external_location): CDR_LAKE_URL, else lake/ under
    CDR_DATA_DIR; on object storage through the live-files filesystem (cdr.lake.objectstore). -#}
{% macro lake_root() -%}
    {{- return(env_var('CDR_LAKE_URL', env_var('CDR_DATA_DIR', '../data') ~ '/lake') | replace('s3://', 'cdrlake://')) -}}
{%- endmacro %}

{#- A glob of a lake folder's files, as a SQL literal (e.g. for read_blob in a source's loaded_at_query). -#}
{% macro lake_files(folder, pattern='**/*.parquet') -%}
    {{- return(sql_string(lake_root() ~ '/' ~ folder ~ '/' ~ pattern)) -}}
{%- endmacro %}
