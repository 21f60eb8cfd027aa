-- Each Voicenter CDR once, with the call centre's business day it belongs to and how it reached the lake: by the
-- webhook, from the Call Log (voicenter_reconcile), or both. The Voicenter zone lives here, with the source's
-- other rules, so that marts.agg_voicenter_reconciliation names no source.
with

cdrs as (

    select * from {{ ref('stg_voicenter__cdrs') }}

),

final as (

    select
        ivruniqueid,
        -- the call centre's business day (macros/local_time.sql)
        cast(timezone({{ local_timezone("'voicenter'") }}, min(coalesce(started_at, received_at))) as date) as date_key,
        bool_or(origin = 'webhook') as by_webhook,
        bool_or(origin = 'call_log') as by_call_log
    from cdrs
    group by ivruniqueid

)

select * from final
