{#- The call centre's clock (docs/analysts.md, "Local time"). The site's zone is the var site_timezone
    (CDR_SITE_TIMEZONE, default UTC); a source whose call centre sits elsewhere overrides it with
    CDR_SITE_TIMEZONE_<SOURCE> (e.g. CDR_SITE_TIMEZONE_PBX=Europe/Bucharest). Read when dbt compiles, like
    every var: a changed zone needs a full refresh of the facts (cdr.warehouse.build.project_fingerprint sees the
    variables, so cdr_warehouse makes one). -#}

{#- The site's zone (an empty CDR_SITE_TIMEZONE is the default, UTC). -#}
{% macro site_timezone() -%}
    {{ return(check_timezone((var('site_timezone') | trim) or 'UTC')) }}
{%- endmacro %}

{#- Each source's zone: its override, else the site's. -#}
{% macro site_timezones() -%}
    {%- set zones = {} -%}
    {%- for source in var('cdr_sources') -%}
        {%- set zone = env_var('CDR_SITE_TIMEZONE_' ~ source | upper, '') | trim -%}
        {%- do zones.update({source: check_timezone(zone) if zone else site_timezone()}) -%}
    {%- endfor -%}
    {{ return(zones) }}
{%- endmacro %}

{#- The IANA zone of a leg's or call's local time, as SQL: one literal when every source shares the site's. -#}
{% macro local_timezone(source_column='source') -%}
    {%- set zones = site_timezones() -%}
    {%- set site = site_timezone() -%}
    {%- set overrides = [] -%}
    {%- for source, zone in zones.items() if zone != site -%}
        {%- do overrides.append((source, zone)) -%}
    {%- endfor -%}
    {%- if overrides -%}
        case {{ source_column }}
        {%- for source, zone in overrides %} when {{ sql_string(source) }} then {{ sql_string(zone) }}{% endfor %}
        else {{ sql_string(site) }} end
    {%- else -%}
        {{ sql_string(site) }}
    {%- endif -%}
{%- endmacro %}

{#- started_at_local, local_date, local_hour (and the zone they are in) of a UTC instant. -#}
{% macro local_time_columns(instant, source_column='source') -%}
        {{ local_timezone(source_column) }} as local_timezone,
        timezone({{ local_timezone(source_column) }}, {{ instant }}) as started_at_local,
        cast(timezone({{ local_timezone(source_column) }}, {{ instant }}) as date) as local_date,
        hour(timezone({{ local_timezone(source_column) }}, {{ instant }})) as local_hour
{%- endmacro %}

{#- A zone goes into the SQL as a literal: refuse anything but an IANA name's characters (DuckDB refuses a name
    it does not know when the model runs). -#}
{% macro check_timezone(zone) -%}
    {%- if not modules.re.fullmatch('[A-Za-z][A-Za-z0-9_+/-]*', zone) -%}
        {{ exceptions.raise_compiler_error("CDR_SITE_TIMEZONE: " ~ zone ~ " is not an IANA time zone name") }}
    {%- endif -%}
    {{ return(zone) }}
{%- endmacro %}
