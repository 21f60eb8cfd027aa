{#- Schemas are named as configured (marts, staging, ...), not prefixed with the target schema:
    analysts query marts.fct_cdr as the contract names it. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
