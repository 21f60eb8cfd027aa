{{
    config(
        materialized='incremental',
        unique_key='call_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{#- The legs of one call start within call_span_hours of each other: an incremental build looks for the legs
    of the calls it recomputes only that far before the earliest changed leg, and skips the rest of the table. -#}
{%- set watermark = lake_watermark() -%}
{%- set legs_since = none -%}
{%- if watermark is not none -%}
    {%- set legs_since = run_query(
        "select min(started_at) - interval '" ~ var('call_span_hours') ~ " hours' from " ~ ref('fct_cdr')
        ~ " where extracted_at > " ~ watermark
    ).columns[0].values()[0] -%}
{%- endif %}

with

legs as (

    select * from {{ ref('fct_cdr') }}
    {%- if legs_since is not none %}
    where started_at >= timestamptz {{ sql_string(legs_since) }}
    {%- endif %}

),

{#- An incremental build recomputes, from all their legs, only the calls that gained or changed a leg; a full
    build recomputes every call, so it does not look for them (at 10M legs, a distinct and a semi join of every
    leg). #}
{%- if watermark is not none %}
changed_calls as (

    select distinct call_key from legs
    {{ lake_watermark_filter() }}

),
{%- endif %}

sources as (

    select * from {{ ref('cdr_sources') }}

),

legs_of_changed_calls as (

    select
        legs.*,
        {{ leg_order() }} as leg_order
    from legs
    {%- if watermark is not none %}
    semi join changed_calls using (call_key)
    {%- endif %}

),

calls as (

    select
        call_key,
        min(source) as source,
        count(*) as legs,
        -- a leg whose time is only estimated (fct_cdr.started_at_estimated) dates the call only if no leg is timed
        coalesce(min(started_at) filter (where not started_at_estimated), min(started_at)) as started_at,
        bool_and(started_at_estimated) as started_at_estimated,
        max(ended_at) as ended_at,
        arg_min(direction, leg_order) as direction,
        arg_min(remote_country_code, leg_order) filter (where remote_country_code is not null)
            as remote_country_code,
        arg_min(remote_number, leg_order) filter (where remote_number is not null) as remote_number,
        bool_or(status = 'answered') as was_answered,
        bool_or(status = 'abandoned') as was_abandoned,
        arg_max(status, leg_order) as last_leg_status,
        -- who answered: the agent on the first answered leg
        arg_min(agent_key, leg_order) filter (where status = 'answered' and agent_key is not null)
            as answered_by_agent_key,
        arg_min(queue_key, leg_order) filter (where queue_key is not null) as queue_key,
        -- the trunk: a transferred call's later legs name the transferring phone instead
        arg_min(route, leg_order) filter (where route is not null) as route,
        -- the far end declined the call (SIP 603 Decline, 607 Unwanted, 608 Rejected): a terminal rejection in
        -- ITU-T E.425's sense; Q.850 21 CALL_REJECTED is already the status busy
        bool_or(coalesce(sip_code in (603, 607, 608), false)) as was_declined,
        max(ring_seconds) as longest_ring_seconds,
        sum(ring_seconds) as total_ring_seconds,
        max(talk_seconds) as longest_talk_seconds,
        sum(talk_seconds) as total_talk_seconds,
        sum(queue_wait_seconds) as queue_wait_seconds,
        max(extracted_at) as extracted_at
    from legs_of_changed_calls
    group by call_key

),

final as (

    select
        call_key,
        source,
        legs,
        started_at,
        ended_at,
        started_at_estimated,
        cast(started_at at time zone 'UTC' as date) as date_key,
        hour(started_at at time zone 'UTC') as started_hour_utc,
        -- the call centre's clock (macros/local_time.sql): CDR_SITE_TIMEZONE, or the source's override
        {{ local_time_columns('started_at') }},
        direction,
        case
            when was_answered then 'answered'
            when was_abandoned then 'abandoned'
            else last_leg_status
        end as outcome,
        answered_by_agent_key,
        queue_key,
        route,
        was_declined,
        remote_country_code,
        remote_number,
        -- A short abandon (contact-centre standard practice): the caller hung up in the queue within
        -- short_abandon_seconds, too soon to have been answered; counted, and left out of the abandonment rate and
        -- the service level. A call whose source does not report its wait is never a short abandon.
        coalesce(
            was_abandoned and not was_answered and queue_wait_seconds < {{ var('short_abandon_seconds') }}, false
        ) as is_short_abandon,
        -- A source whose legs overlap (seed cdr_sources: KAZOO's A and B legs of a bridged call) counts the
        -- longest; other sources' legs follow one another (transfers, second legs) and add up.
        cast(case when sources.legs_overlap then longest_ring_seconds else total_ring_seconds end as integer)
            as ring_seconds,
        cast(queue_wait_seconds as integer) as queue_wait_seconds,
        cast(case when sources.legs_overlap then longest_talk_seconds else total_talk_seconds end as integer)
            as talk_seconds,
        extracted_at
    from calls
    left join sources using (source)

)

select * from final
