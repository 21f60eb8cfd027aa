-- Per local day of the calls (int_voicenter__cdr_origins): the Voicenter CDRs the webhook delivered, those
-- only the Call Log had (recovered by voicenter_reconcile), and those the webhook delivered after they had been
-- recovered.
with

per_cdr as (

    select * from {{ ref('int_voicenter__cdr_origins') }}

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
