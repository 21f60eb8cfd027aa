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
