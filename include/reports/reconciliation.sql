-- Data health: Voicenter's webhook against its Call Log on $day (marts.agg_voicenter_reconciliation).
select
    r.cdrs::integer as cdrs,
    r.delivered_by_webhook::integer as delivered_by_webhook,
    r.only_in_call_log::integer as only_in_call_log,
    r.webhook_after_recovery::integer as webhook_after_recovery
from marts.agg_voicenter_reconciliation r
where r.date_key = $day
