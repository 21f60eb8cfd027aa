{#- The operator's agent directory, `$CDR_DATA_DIR/reference/agent_directory.csv`, when there is one: its path,
    else ''. Looked for at every build that builds dim_agent (every build: dim_agent is rebuilt from fct_cdr), so
    a file added or edited is read by the next build, incremental or not. -#}
{% macro agent_directory_csv() -%}
    {%- set path = env_var('CDR_DATA_DIR', '../data') ~ '/reference/agent_directory.csv' -%}
    {%- if execute -%}
        {%- set found = run_query("select count(*) from glob(" ~ sql_string(path) ~ ")")
            .columns[0].values()[0] -%}
        {%- if found > 0 -%}
            {{- return(path) -}}
        {%- endif -%}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}
