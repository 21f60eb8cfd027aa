with

hours as (

    select cast(hour_range.hour_utc as integer) as hour_utc from range(24) as hour_range (hour_utc)

),

final as (

    select
        hour_utc,
        -- the same hour of the clock, the key for fct_cdr.local_hour and fct_call.local_hour
        hour_utc as hour,
        lpad(cast(hour_utc as varchar), 2, '0')
        || ':00-'
        || lpad(cast(((hour_utc + 1) % 24) as varchar), 2, '0')
        || ':00 UTC'
            as hour_label,
        lpad(cast(hour_utc as varchar), 2, '0')
        || ':00-'
        || lpad(cast(((hour_utc + 1) % 24) as varchar), 2, '0')
        || ':00'
            as local_hour_label,
        case
            when hour_utc < 6 then 'night'
            when hour_utc < 12 then 'morning'
            when hour_utc < 18 then 'afternoon'
            else 'evening'
        end as day_part
    from hours

)

select * from final
