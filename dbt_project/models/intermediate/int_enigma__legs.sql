with

notifications as (

    select * from {{ ref('stg_enigma__notifications') }}

),

end_reasons as (

    select * from {{ ref('enigma_end_reasons') }}

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

cdrs as (

    select
        *,
        coalesce(call_ref, message_md5 || ':' || coalesce(notification_index, 0)) as enigma_cdr_key,
        {{ vocab_key('end_reason') }} as end_reason_key,
        {{ vocab_key('call_dir') }} as call_dir_key,
        -- The campaigns key sends the SIP final response; the c2d key an ISDN (Q.850) cause.
        case when message_type = 'cdr' and end_code between 100 and 699 then end_code end as end_sip_code,
        case when message_type = 'c2d' or end_code not between 100 and 699 then end_code end as end_q850_code
    from notifications
    where message_type in ('cdr', 'c2d')

),

-- One c2d message answers one click-to-dial (POST /click2dial/calls, one call_ref): its notifications, the
-- agent's leg and the callee's, are the legs of one call, keyed by the first one's key. A re-drained copy of the
-- message (another extracted_at) gets the same keys. The vendor's <ext> is the agent's extension (3-4 digits) or
-- "the first number connected to the call", the callee's number.
keyed as (

    select
        cdrs.*,
        case
            when
                message_type = 'c2d' and call_ref is not null
                and count(*) over (partition by message_md5, extracted_at, call_ref) > 1
                then call_ref || ':' || notification_index
            else enigma_cdr_key
        end as leg_key,
        case
            when message_type = 'c2d'
                then first_value(enigma_cdr_key) over (
                    partition by message_md5, extracted_at order by notification_index nulls last
                )
            else enigma_cdr_key
        end as enigma_call_key,
        message_type = 'c2d' and not regexp_full_match(extension, '[0-9]{3,4}') as extension_is_callee
    from cdrs

),

classified as (

    select
        cdrs.*,
        dir_word.direction as word_direction,
        coalesce(own_word.status, asterisk_word.status) as word_status,
        coalesce(sip_code.status, sip_class.status) as sip_status,
        by_cause.status as cause_status
    from keyed as cdrs
    left join direction_words as dir_word on cdrs.call_dir_key = dir_word.word
    left join end_reasons as own_word on cdrs.end_reason_key = {{ vocab_key('own_word.end_reason') }}
    left join asterisk_statuses as asterisk_word on cdrs.end_reason_key = asterisk_word.word
    left join hangup_causes as by_cause on cdrs.end_q850_code = by_cause.q850_code
    {{ sip_status_join('cdrs.end_sip_code') }}

),

decided as (

    select
        *,
        -- Without a call_dir, a dialer's campaign call and a click-to-dial are calls out to the callee.
        coalesce(word_direction, 'outbound') as direction,
        case when word_direction is not null then 'call_dir' else 'dialer_default' end as direction_basis,
        case
            -- the vendor's key indicator: the callee hung up in the queue before reaching an agent
            when message_type = 'cdr' and extension is null then 'abandoned'
            else coalesce(
                word_status, sip_status, cause_status,
                case when coalesce(call_time_seconds, 0) > 0 then 'answered' end,
                'other'
            )
        end as status,
        case
            when message_type = 'cdr' and extension is null then 'no_extension'
            when word_status is not null then 'end_reason'
            when sip_status is not null then 'sip_code'
            when cause_status is not null then 'hangup_cause'
            when coalesce(call_time_seconds, 0) > 0 then 'call_time'
            else 'unmapped'
        end as status_basis
    from classified

),

final as (

    select
        'enigma' as source,
        leg_key as source_cdr_id,
        enigma_call_key as call_key,
        -- A c2d notification carries no time (docs/analysts.md, "Times that are estimated"): it is pushed once
        -- the call has ended, so when it was drained is the latest the call can have been; flagged as estimated.
        coalesce(dialed_at, extracted_at) as started_at,
        coalesce(dialed_at, extracted_at) + to_seconds(coalesce(call_time_seconds, 0)) as ended_at,
        dialed_at is null as started_at_estimated,
        direction,
        direction_basis,
        call_dir as source_direction,
        case
            when extension_is_callee then null
            when direction = 'inbound' then dialed_number
            else extension
        end as caller_number_as_sent,
        case
            when extension_is_callee then extension
            when direction = 'inbound' then extension
            else dialed_number
        end as callee_number_as_sent,
        -- numbers without a country code belong to the Connection's default_region, else the registry's
        coalesce(default_region, {{ source_default('enigma', 'default_region') }}) as phone_region,
        status,
        status_basis,
        end_reason as source_status,
        cast(null as integer) as ring_seconds,
        {{ talk_when_answered('status', 'call_time_seconds') }} as talk_seconds,
        cast(null as integer) as queue_wait_seconds,
        case when not extension_is_callee then extension end as agent_id,
        cast(null as varchar) as agent_name,
        campaign_ref as queue_id,
        campaign_ref as queue_name,
        case when end_q850_code is not null then end_code_as_sent end as hangup_cause,
        end_sip_code as sip_code,
        recording_url,
        list_concat(invalid_values, list_filter([
            {{ talk_outside_answer_entry('call_time', 'status', 'call_time_seconds') }},
            { 'field': 'end_reason', 'affects': 'status', 'value': case
                when status_basis = 'unmapped' or (end_reason_key is not null and word_status is null)
                    then coalesce(end_reason, '(missing)')
            end },
            { 'field': 'call_dir', 'affects': 'direction', 'value': case
                when call_dir_key is not null and word_direction is null then call_dir
            end }
        ], lambda item: item.value is not null)) as unmapped_values,
        extracted_at,
        lake_interval_start as read_order
    from decided

)

select * from final
