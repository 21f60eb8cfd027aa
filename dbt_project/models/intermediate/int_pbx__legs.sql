with

cdrs as (

    select * from {{ ref('stg_pbx__cdrs') }}

),

asterisk_statuses as (

    select * from {{ ref('asterisk_statuses') }}

),

hangup_causes as (

    select * from {{ ref('hangup_causes') }}

),

direction_words as (

    select * from {{ ref('direction_words') }}

),

keyed as (

    select
        *,
        coalesce(caller_id_number, source_number) as caller_raw,
        {{ vocab_key('call_status') }} as call_status_key,
        {{ vocab_key('dial_status') }} as dial_status_key,
        {{ vocab_key('direction_code') }} as direction_key,
        {{ vocab_key('call_code') }} as call_code_key
    from cdrs

),

-- Ours: an extension or one of the PBX's own numbers (the Connection's own_numbers).
parties as (

    select
        keyed.*,
        {{ is_extension('caller_raw') }} or {{ is_own_number('caller_raw', 'pbx') }} as caller_is_ours,
        {{ is_extension('destination_number') }} or {{ is_own_number('destination_number', 'pbx') }} as callee_is_ours
    from keyed

),

classified as (

    select
        parties.*,
        {{ party_direction('caller_is_ours', 'callee_is_ours') }} as party_direction,
        direction_word.direction as word_direction,
        code_word.direction as code_direction,
        by_call_status.status as call_status_status,
        by_dial_status.status as dial_status_status,
        coalesce(sip_code.status, sip_class.status) as sip_status,
        by_cause.status as cause_status
    from parties
    left join direction_words as direction_word on parties.direction_key = direction_word.word
    left join direction_words as code_word on parties.call_code_key = code_word.word
    left join asterisk_statuses as by_call_status on parties.call_status_key = by_call_status.word
    left join asterisk_statuses as by_dial_status on parties.dial_status_key = by_dial_status.word
    left join hangup_causes as by_cause on parties.hangup_cause_code = by_cause.q850_code
    {{ sip_status_join('parties.sip_code') }}

),

decided as (

    select
        *,
        -- The PBX says IN or OUT; two parties that are both ours make a call internal whatever it says.
        case
            when party_direction = 'internal' then 'internal'
            else coalesce(word_direction, code_direction, party_direction, 'unknown')
        end as direction,
        case
            when party_direction = 'internal' then 'parties'
            when word_direction is not null then 'direction'
            when code_direction is not null then 'code'
            when party_direction is not null then 'parties'
            else 'unmapped'
        end as direction_basis,
        -- call_status first; then the dial status, billable seconds, the SIP answer and the Q.850 cause.
        coalesce(
            call_status_status,
            dial_status_status,
            case when coalesce(bill_seconds, 0) > 0 then 'answered' end,
            sip_status,
            cause_status
        ) as witnessed_status,
        case
            when call_status_status is not null then 'call_status'
            when dial_status_status is not null then 'dial_status'
            when coalesce(bill_seconds, 0) > 0 then 'bill_duration'
            when sip_status is not null then 'sip_code'
            when cause_status is not null then 'hangup_cause'
            else 'unmapped'
        end as witnessed_basis
    from classified

),

final as (

    select
        'pbx' as source,
        pbx_cdr_id as source_cdr_id,
        coalesce(linkedid, uniqueid, pbx_cdr_id) as call_key,
        -- a time that cannot be read (counted as invalid): the start of the interval the row was pulled for
        coalesce(started_at, lake_interval_start) as started_at,
        coalesce(ended_at, coalesce(started_at, lake_interval_start) + to_seconds(coalesce(duration_seconds, 0)))
            as ended_at,
        started_at is null as started_at_estimated,
        direction,
        direction_basis,
        direction_code as source_direction,
        caller_raw as caller_number_as_sent,
        destination_number as callee_number_as_sent,
        -- numbers without a country code belong to the Connection's default_region, else the registry's
        coalesce(default_region, {{ source_default('pbx', 'default_region') }}) as phone_region,
        -- An inbound call that waited in a queue and was not answered was abandoned there.
        case
            when witnessed_status in ('no_answer', 'cancelled') and direction = 'inbound' and queue_name is not null
                then 'abandoned'
            else coalesce(witnessed_status, 'other')
        end as status,
        case
            when witnessed_status in ('no_answer', 'cancelled') and direction = 'inbound' and queue_name is not null
                then 'queue'
            else witnessed_basis
        end as status_basis,
        call_status as source_status,
        ring_seconds,
        {{ talk_when_answered('witnessed_status', 'bill_seconds') }} as talk_seconds,
        case when queue_name is not null then hold_seconds end as queue_wait_seconds,
        -- The agent's phone is the destination of an inbound call and the origin of an outbound one.
        case when direction = 'inbound' then dst_channel_peer else channel_peer end as agent_id,
        user_fullname as agent_name,
        -- The trunk the call used: the outside end of the channel (the origin of an inbound call, the
        -- destination of an outbound one); the carrier KPIs are per route (marts.agg_route_daily).
        case direction when 'inbound' then channel_peer when 'outbound' then dst_channel_peer end as route,
        queue_name as queue_id,
        queue_name,
        hangup_cause,
        sip_code,
        dial_status,
        recording_url,
        list_concat(invalid_values, list_filter([
            {{ talk_outside_answer_entry('bill_duration', 'witnessed_status', 'bill_seconds') }},
            { 'field': 'call_status', 'affects': 'status', 'value': case
                when witnessed_basis = 'unmapped' or (call_status_key is not null and call_status_status is null)
                    then coalesce(call_status, '(missing)')
            end },
            { 'field': 'dial_status', 'affects': 'status', 'value': case
                when dial_status_key is not null and dial_status_status is null then dial_status
            end },
            { 'field': 'direction', 'affects': 'direction', 'value': case
                when direction_basis = 'unmapped' or (direction_key is not null and word_direction is null)
                    then coalesce(direction_code, '(missing)')
            end }
        ], lambda item: item.value is not null)) as unmapped_values,
        extracted_at,
        -- runs re-read the hours before their interval (late calls)
        lake_interval_start as read_order
    from decided

)

select * from final
