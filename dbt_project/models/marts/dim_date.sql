with

legs as (

    select * from {{ ref('fct_cdr') }}

),

bounds as (

    -- every day from the first call to the last (today alone while the warehouse is empty)
    select
        coalesce(min(cast(started_at at time zone 'UTC' as date)), current_date) as first_day,
        coalesce(max(cast(started_at at time zone 'UTC' as date)), current_date) as last_day
    from legs

),

days as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_key
    from bounds

),

final as (

    select
        date_key,
        year(date_key) as year,
        quarter(date_key) as quarter,
        month(date_key) as month,
        monthname(date_key) as month_name,
        day(date_key) as day_of_month,
        isodow(date_key) as day_of_week,
        dayname(date_key) as day_name,
        isodow(date_key) in (6, 7) as is_weekend,
        weekofyear(date_key) as iso_week
    from days

)

select * from final
