-- Each Voicenter CDR both the webhook and the Call Log have, with the offset between the webhook's `time` and the
-- log's true-UTC `Date` (what the data says) beside the offset the account's setting applied to it (what the
-- warehouse did): under the default setting both are the zone's offset from UTC (+02:00 or +03:00 in Israel);
-- an account that sends true epochs measures 00:00. Time zones differ by whole quarter hours, so the two are
-- compared in quarter hours: seconds between a CDR's id, `time` and the log's `Date` do not matter.
with

witnesses as (

    select * from {{ ref('stg_voicenter__time_witness') }}

),

cdrs as (

    select * from {{ ref('stg_voicenter__cdrs') }}

),

-- the webhook's first copy of each CDR, as int_voicenter__legs counts it
webhook as (

    select
        ivruniqueid,
        source_time,
        started_at,
        time_basis
    from cdrs
    where origin = 'webhook' and started_at is not null and source_time is not null
    qualify row_number() over (partition by ivruniqueid order by received_at, extracted_at) = 1

),

compared as (

    select distinct on (witnesses.ivruniqueid)
        witnesses.ivruniqueid,
        witnesses.log_started_at,
        coalesce(webhook.time_basis, 'local') as time_basis,
        witnesses.webhook_time - epoch(witnesses.log_started_at) as measured_offset_seconds,
        webhook.source_time - epoch(webhook.started_at) as applied_offset_seconds
    from witnesses
    inner join webhook on witnesses.ivruniqueid = webhook.ivruniqueid
    where witnesses.webhook_time is not null
    order by witnesses.ivruniqueid asc, witnesses.extracted_at desc

),

final as (

    select
        ivruniqueid,
        log_started_at,
        -- the call centre's business day of the call (macros/local_time.sql)
        cast(timezone({{ local_timezone("'voicenter'") }}, log_started_at) as date) as date_key,
        time_basis,
        cast(measured_offset_seconds as bigint) as measured_offset_seconds,
        cast(applied_offset_seconds as bigint) as applied_offset_seconds,
        round(measured_offset_seconds / 900) != round(applied_offset_seconds / 900) as contradicts_setting
    from compared

)

select * from final
