-- Per UTC day of the calls: the Voicenter CDRs the webhook delivered, those only the Call Log had (recovered by
-- voicenter_reconcile), and those the webhook delivered after they had been recovered.
with

cdrs as (

    select * from {{ ref('stg_voicenter__cdrs') }}

),

per_cdr as (

    select
        ivruniqueid,
        -- the call centre's business day (macros/local_time.sql)
        cast(timezone({{ local_timezone("'voicenter'") }}, min(coalesce(started_at, received_at))) as date) as date_key,
        bool_or(origin = 'webhook') as by_webhook,
        bool_or(origin = 'call_log') as by_call_log
    from cdrs
    group by ivruniqueid

),

final as (

    select
        date_key,
        count(*) as cdrs,
        count(*) filter (where by_webhook) as delivered_by_webhook,
        count(*) filter (where by_call_log and not by_webhook) as only_in_call_log,
        count(*) filter (where by_call_log and by_webhook) as webhook_after_recovery,
        round(100.0 * count(*) filter (where by_call_log and not by_webhook) / count(*), 2) as only_in_call_log_pct
    from per_cdr
    group by date_key

)

select * from final
