with

legs as (

    select * from {{ ref('fct_cdr') }}

),

bounds as (

    -- every day from the first timed call to the last (today alone while the warehouse has none)
    select
        coalesce(least(min(date_key), min(local_date)), current_date) as first_day,
        coalesce(greatest(max(date_key), max(local_date)), current_date) as last_day
    from legs
    where not started_at_estimated

),

days as (

    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as date_key
    from bounds

    union

    -- A leg whose time is only estimated (a c2d leg dated by its drain) keeps its date_key resolvable, but its
    -- day does not stretch the span: a back-log drained days later adds that one day, not the days between.
    select distinct date_key
    from legs
    where started_at_estimated

    union

    -- the call centre's local dates (fct_cdr.local_date, fct_call.local_date): a day at either end of the span
    -- that is local but not UTC (or the other way round)
    select distinct local_date
    from legs

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
