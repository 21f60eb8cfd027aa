{{
    config(
        materialized='incremental',
        unique_key='call_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ delete_calls_no_longer_inbound() }}",
    )
}}

-- One row per incoming call from a known number, with what that number did next (any source): the repeat
-- callers after an unanswered or abandoned call, whether an agent called back first, and the first-contact
-- resolution proxy (an answered caller who does not call again within fcr_window_days). Definitions:
-- docs/analysts.md, "Contact-centre KPIs".
--
-- Incremental by number: a call's next call can come days later, so a changed call changes the rows of its
-- number, before and after it. An incremental build recomputes, from all their calls, the numbers a changed call
-- has now or had before: the number of the held row that is the call, or that names it as its next call (a call
-- that left a number changes only the rows it was next to). The pre-hook drops the held rows of changed calls
-- that are no longer incoming calls from a number.
{%- set watermark = lake_watermark() %}

with

calls as (

    select * from {{ ref('fct_call') }}

),

-- Every incoming or outgoing call (number_events keeps those from a known number).
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
        queue_key,
        extracted_at
    from calls
    where direction in ('inbound', 'outbound')

),

{%- if watermark is not none %}

changed_calls as (

    select
        call_key,
        direction,
        remote_number,
        extracted_at
    from calls
    where extracted_at > {{ watermark }}

),

held as (

    select * from {{ this }}

),

touched_numbers as (

    select
        remote_number,
        -- a number a call left is recomputed because of it: its rows changed then
        max(extracted_at) as touched_at
    from (
        select
            remote_number,
            extracted_at
        from changed_calls
        where direction in ('inbound', 'outbound') and {{ known_number('remote_number') }}
        union all
        select
            held.remote_number,
            changed_calls.extracted_at
        from held
        inner join changed_calls on held.call_key = changed_calls.call_key
        union all
        select
            held.remote_number,
            changed_calls.extracted_at
        from held
        inner join changed_calls on held.next_inbound_call_key = changed_calls.call_key
        union all
        select
            held.remote_number,
            changed_calls.extracted_at
        from held
        inner join changed_calls on held.next_outbound_call_key = changed_calls.call_key
    ) as touches
    where remote_number is not null
    group by remote_number

),

{%- endif %}

number_events as (

    select
        events.*,
        {{ 'touched_numbers.touched_at' if watermark is not none else 'null::timestamptz' }} as touched_at
    from events
    {%- if watermark is not none %}
    -- (a number touched is a known one: its changed calls' are filtered so, its held rows' were)
    inner join touched_numbers using (remote_number)
    {%- else %}
    where {{ known_number('remote_number') }}  -- noqa: LT02
    {%- endif %}

),

next_calls as (

    select
        *,
        -- the first incoming call of the number after this one, and the first outgoing call to it (the first
        -- non-null among the later calls: a fraction of the cost of a windowed min at millions of calls)
        first_value(
            case
                when direction = 'inbound' and started_at is not null
                    then { 'started_at': started_at, 'call_key': call_key }
            end ignore nulls
        ) over later as next_inbound,
        first_value(
            case
                when direction = 'outbound' and started_at is not null
                    then { 'started_at': started_at, 'call_key': call_key }
            end ignore nulls
        ) over later as next_outbound,
        -- every row of a number is computed from all the number's calls
        max(extracted_at) over (partition by remote_number) as number_extracted_at
    from number_events
    window later as (
        partition by remote_number order by started_at, call_key rows between 1 following and unbounded following
    )

),

resolved as (

    select
        *,
        next_inbound.started_at as next_inbound_at,
        next_inbound.call_key as next_inbound_call_key,
        next_outbound.started_at as next_outbound_at,
        next_outbound.call_key as next_outbound_call_key
    from next_calls

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
        ) as called_again_within_fcr_window,
        next_inbound_call_key,
        next_outbound_call_key,
        greatest(number_extracted_at, touched_at) as extracted_at
    from resolved
    where direction = 'inbound'

)

select * from final
