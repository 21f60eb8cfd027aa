-- The carriers' view: per source, route (where the source names one), direction, destination country and local
-- day, the calls that seized a trunk and what became of them: ASR (ITU-T E.411), NER (ITU-T E.425), ACD and
-- the ring time (the nearest these CDRs come to post-dial delay). Definitions: docs/analysts.md, "Carrier KPIs".
with

calls as (

    select * from {{ ref('fct_call') }}

),

-- A seizure is a call over the network: inbound or outbound (internal calls seize no trunk; unknown ones are
-- not known to and are counted in marts.dq_unmapped).
seizures as (

    select
        source,
        route,
        direction,
        remote_country_code as country_code,
        local_date as date_key,
        outcome,
        was_declined,
        talk_seconds,
        ring_seconds
    from calls
    where direction in ('inbound', 'outbound')

),

final as (

    select
        source,
        route,
        direction,
        country_code,
        date_key,
        count(*) as seizures,
        count(*) filter (where outcome = 'answered') as answered,
        count(*) filter (where outcome = 'busy') as user_busy,
        count(*) filter (where outcome = 'no_answer') as no_answer,
        count(*) filter (where outcome = 'failed' and was_declined) as terminal_rejected,
        -- reached the far end, then answered by its voicemail or abandoned in our queue (or the dialer's)
        count(*) filter (where outcome in ('voicemail', 'abandoned')) as reached_other,
        -- E.425: the network did its part (answer, user busy, no answer, terminal rejection)
        count(*) filter (
            where outcome in ('answered', 'busy', 'no_answer', 'voicemail', 'abandoned')
            or (outcome = 'failed' and was_declined)
        ) as network_effective,
        count(*) filter (where outcome = 'failed' and not was_declined) as failed,
        count(*) filter (where outcome = 'cancelled') as cancelled,
        count(*) filter (where outcome = 'other') as other,
        coalesce(sum(talk_seconds) filter (where outcome = 'answered'), 0) as answered_talk_seconds,
        count(ring_seconds) as with_ring_time,
        coalesce(sum(ring_seconds), 0) as ring_seconds,
        round(100.0 * count(*) filter (where outcome = 'answered') / count(*), 1) as asr_pct,
        round(
            100.0 * count(*) filter (
                where outcome in ('answered', 'busy', 'no_answer', 'voicemail', 'abandoned')
                or (outcome = 'failed' and was_declined)
            ) / count(*),
            1
        ) as ner_pct,
        round(
            sum(talk_seconds) filter (where outcome = 'answered')
            / nullif(count(*) filter (where outcome = 'answered'), 0),
            1
        ) as acd_seconds,
        round(avg(ring_seconds), 1) as avg_ring_seconds
    from seizures
    group by source, route, direction, country_code, date_key

)

select * from final
