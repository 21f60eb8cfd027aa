with

hours as (

    select cast(hour_range.hour_utc as integer) as hour_utc from range(24) as hour_range (hour_utc)

),

final as (

    select
        hour_utc,
        lpad(cast(hour_utc as varchar), 2, '0')
        || ':00-'
        || lpad(cast(((hour_utc + 1) % 24) as varchar), 2, '0')
        || ':00 UTC'
            as hour_label,
        case
            when hour_utc < 6 then 'night'
            when hour_utc < 12 then 'morning'
            when hour_utc < 18 then 'afternoon'
            else 'evening'
        end as day_part
    from hours

)

select * from final
