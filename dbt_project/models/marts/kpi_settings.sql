-- The KPI settings of this build (dbt vars), for the report and analysts.
with

final as (

    select
        {{ sql_string(site_timezone()) }} as site_timezone,
        cast({{ var('short_abandon_seconds') }} as integer) as short_abandon_seconds,
        cast({{ var('service_level_seconds') }} as integer) as service_level_seconds,
        {{ sql_string(var('service_level_denominator')) }} as service_level_denominator,
        cast({{ var('repeat_call_window_hours') }} as integer) as repeat_call_window_hours,
        cast({{ var('fcr_window_days') }} as integer) as fcr_window_days

)

select * from final
