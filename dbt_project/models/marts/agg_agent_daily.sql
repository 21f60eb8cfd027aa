-- Agents over time: per agent and business day (local_date), the calls they handled, their talk and ring time,
-- average handle time and the calls that rang them unanswered. Handle time here is talk plus ring where the source
-- gives ring time: after-call work (wrap-up) is not in CDRs. Definitions: docs/analysts.md, "Agents over time".
with

legs as (

    select * from {{ ref('fct_cdr') }}
    where agent_key is not null

),

calls as (

    select * from {{ ref('fct_call') }}
    where answered_by_agent_key is not null

),

agents as (

    select * from {{ ref('dim_agent') }}

),

per_leg as (

    select
        agent_key,
        local_date as date_key,
        count(*) filter (where status = 'answered') as legs_answered,
        -- the agent's phone rang and nobody answered it (busy, failed and voicemail legs did not ring them)
        count(*) filter (where status in ('no_answer', 'cancelled', 'abandoned')) as missed_calls,
        coalesce(sum(talk_seconds), 0) as talk_seconds,
        coalesce(sum(ring_seconds) filter (where status = 'answered'), 0) as answered_ring_seconds,
        coalesce(sum(talk_seconds) filter (where status = 'answered'), 0) as answered_talk_seconds,
        count(ring_seconds) filter (where status = 'answered') as answered_with_ring_time
    from legs
    group by agent_key, local_date

),

per_call as (

    select
        answered_by_agent_key as agent_key,
        local_date as date_key,
        count(*) as calls_handled,
        count(*) filter (where direction = 'inbound') as inbound_handled,
        count(*) filter (where direction = 'outbound') as outbound_handled
    from calls
    group by answered_by_agent_key, local_date

),

final as (

    select
        agents.source,
        coalesce(per_leg.agent_key, per_call.agent_key) as agent_key,
        coalesce(per_leg.date_key, per_call.date_key) as date_key,
        coalesce(per_call.calls_handled, 0) as calls_handled,
        coalesce(per_call.inbound_handled, 0) as inbound_handled,
        coalesce(per_call.outbound_handled, 0) as outbound_handled,
        coalesce(per_leg.legs_answered, 0) as legs_answered,
        coalesce(per_leg.talk_seconds, 0) as talk_seconds,
        coalesce(per_leg.answered_ring_seconds, 0) as answered_ring_seconds,
        coalesce(per_leg.answered_with_ring_time, 0) as answered_with_ring_time,
        coalesce(per_leg.answered_talk_seconds + per_leg.answered_ring_seconds, 0) as handle_seconds,
        -- average handle time of the answered legs: talk plus ring (where given); no after-call work in CDRs
        round(
            (per_leg.answered_talk_seconds + per_leg.answered_ring_seconds) / nullif(per_leg.legs_answered, 0), 1
        ) as aht_seconds,
        coalesce(per_leg.missed_calls, 0) as missed_calls
    from per_leg
    full outer join per_call
        on per_leg.agent_key = per_call.agent_key and per_leg.date_key = per_call.date_key
    left join agents
        on coalesce(per_leg.agent_key, per_call.agent_key) = agents.agent_key

)

select * from final
