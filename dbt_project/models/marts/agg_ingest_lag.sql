-- How late each source's legs reach the lake: per source and local day of the calls' end, the lag from a leg's end
-- to the moment its record was extracted (pulled, drained or loaded). The warehouse holds a leg one build after
-- that, so this is the part of the end-to-end latency the source and its schedule decide.
with

legs as (

    select * from {{ ref('fct_cdr') }}

),

lags as (

    select
        source,
        -- the call centre's business day of the leg's end (macros/local_time.sql)
        cast(timezone({{ local_timezone('source') }}, ended_at) as date) as date_key,
        epoch(extracted_at) - epoch(ended_at) as lag_seconds
    from legs
    -- an estimated time is the extraction's own (a click-to-dial has none): it says nothing about the lag
    where ended_at is not null and extracted_at is not null and not started_at_estimated

),

final as (

    select
        source,
        date_key,
        count(*) as legs,
        round(quantile_cont(lag_seconds, 0.5), 1) as p50_lag_seconds,
        round(quantile_cont(lag_seconds, 0.95), 1) as p95_lag_seconds,
        round(max(lag_seconds), 1) as max_lag_seconds
    from lags
    group by source, date_key

)

select * from final
