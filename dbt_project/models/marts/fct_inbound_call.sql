-- One row per incoming call from a known number, with what that number did next (any source): the repeat
-- callers after an unanswered or abandoned call, whether an agent called back first, and the first-contact
-- resolution proxy (an answered caller who does not call again within fcr_window_days). Definitions:
-- docs/analysts.md, "Contact-centre KPIs". Rebuilt whole on every build: a call's next call can come days later.
with

calls as (

    select * from {{ ref('fct_call') }}

),

-- Every call with an outside number, incoming or outgoing, in time order per number.
events as (

    select
        call_key,
        source,
        direction,
        outcome,
        is_short_abandon,
        remote_number,
        started_at,
        local_date,
        local_hour,
        queue_key
    from calls
    where direction in ('inbound', 'outbound') and remote_number is not null and regexp_matches(remote_number, '[0-9]')

),

next_calls as (

    select
        *,
        -- the first incoming call of the number after this one, and the first outgoing call to it
        min(started_at) filter (where direction = 'inbound') over later as next_inbound_at,
        min(started_at) filter (where direction = 'outbound') over later as next_outbound_at
    from events
    window later as (
        partition by remote_number order by started_at, call_key rows between 1 following and unbounded following
    )

),

final as (

    select
        call_key,
        source,
        remote_number,
        started_at,
        local_date,
        local_hour,
        queue_key,
        outcome,
        is_short_abandon,
        outcome <> 'answered' as was_missed,
        next_inbound_at,
        next_outbound_at,
        coalesce(
            next_inbound_at < started_at + to_hours({{ var('repeat_call_window_hours') }}), false
        ) as called_again_within_window,
        -- an agent called the number back before it called again (or it did not call again)
        coalesce(next_outbound_at < coalesce(next_inbound_at, 'infinity'::timestamptz), false) as called_back_first,
        coalesce(
            next_inbound_at < started_at + to_days({{ var('fcr_window_days') }}), false
        ) as called_again_within_fcr_window
    from next_calls
    where direction = 'inbound'

)

select * from final
