with

cdrs as (

    select * from {{ ref('stg_voicenter__cdrs') }}

),

call_types as (

    select * from {{ ref('voicenter_call_types') }}

),

statuses as (

    select * from {{ ref('voicenter_statuses') }}

),

-- A file written before time_utc existed: its `time` read the same way here, in the source's default zone
-- (a Call Log row then held a true epoch).
timed as (

    select
        * replace (
            coalesce(
                started_at,
                case
                    when origin = 'call_log' or time_basis = 'utc' then time_as_utc
                    else timezone(
                        coalesce(account_timezone, {{ source_default('voicenter', 'default_timezone') }}),
                        time_as_utc at time zone 'UTC'
                    )
                end
            ) as started_at
        )
    from cdrs

),

keyed as (

    select
        *,
        {{ vocab_key('call_type') }} as call_type_key,
        -- what a re-send must repeat: the CDR's fields as typed, whatever body format carried them
        to_json(struct_pack(
            call_type, call_status, leg1_status, caller, target, did, target_extension, caller_extension,
            queue_id, started_at, duration_seconds, dial_seconds, queue_wait_seconds, recording_url,
            representative_code
        ))::varchar as content_key,
        {{ vocab_key('call_status') }} as call_status_key,
        {{ vocab_key('leg1_status') }} as leg1_status_key,
        -- A queue leg's duration includes its wait (the vendor's newer notes; its own example: duration 20,
        -- seconds_waiting_in_queue 20, "waited in the queue for 20 seconds and decided to hang-up"); the wait is
        -- sent only for calls that entered a queue.
        queue_wait_seconds is not null as is_queue_leg,
        started_at is null as started_at_estimated,
        case
            when queue_wait_seconds is not null then greatest(duration_seconds - queue_wait_seconds, 0)
            else duration_seconds
        end as connected_seconds,
        -- Ours: the extension a call was dialled from, or the extension or DID it reached.
        caller_extension is not null as caller_is_ours,
        target_extension is not null or did is not null as callee_is_ours
    from timed

),

classified as (

    select
        keyed.*,
        call_types.direction as type_direction,
        call_types.leg,
        {{ party_direction('caller_is_ours', 'callee_is_ours') }} as party_direction,
        by_status.status as word_status,
        by_leg1.status as leg1_word_status
    from keyed
    left join call_types on keyed.call_type_key = {{ vocab_key('call_types.type_key') }}
    left join statuses as by_status on keyed.call_status_key = {{ vocab_key('by_status.source_status') }}
    left join statuses as by_leg1 on keyed.leg1_status_key = {{ vocab_key('by_leg1.source_status') }}

),

decided as (

    select
        *,
        coalesce(type_direction, party_direction, 'unknown') as direction,
        case
            when type_direction is not null then 'call_type'
            when party_direction is not null then 'parties'
            else 'unmapped'
        end as direction_basis,
        -- status first (a queue leg "answered" whose wait covers its whole duration reached nobody: the caller
        -- waited and hung up, as the vendor's own example says); for a status nobody knows, leg 1's dial status,
        -- then the talk time.
        case
            when word_status = 'answered' and is_queue_leg and connected_seconds = 0 then 'abandoned'
            else coalesce(
                word_status, leg1_word_status, case when coalesce(connected_seconds, 0) > 0 then 'answered' end, 'other'
            )
        end as status,
        case
            when word_status = 'answered' and is_queue_leg and connected_seconds = 0 then 'queue_wait'
            when word_status is not null then 'status'
            when leg1_word_status is not null then 'leg1_dial_status'
            when coalesce(connected_seconds, 0) > 0 then 'duration'
            else 'unmapped'
        end as status_basis
    from classified

),

final as (

    select
        'voicenter' as source,
        ivruniqueid as source_cdr_id,
        -- legs 1 and 2 and transfers name their origin call in OriginalIvrUniqueID
        coalesce(original_ivruniqueid, ivruniqueid) as call_key,
        -- a CDR without a usable `time` (a form body can omit it): its receipt (else the Call Log interval it
        -- was recovered for) stands in, flagged
        coalesce(started_at, received_at, lake_interval_start) as started_at,
        started_at_estimated,
        -- a queue leg's duration already holds its wait, during which the agents' phones ring
        coalesce(started_at, received_at, lake_interval_start)
        + to_seconds(coalesce(case when not is_queue_leg then dial_seconds end, 0) + coalesce(duration_seconds, 0))
            as ended_at,
        direction,
        direction_basis,
        call_type as source_direction,
        caller as caller_number_as_sent,
        case when direction = 'inbound' then coalesce(did, target) else target end as callee_number_as_sent,
        -- the other side is one of our extensions, not a remote party: the target of a click-to-call's first leg
        -- (the agent's own phone), an extension's SIP code where a number would be (`target` "can be a phone
        -- number or the extension SIP code")
        case
            when
                direction = 'outbound'
                then target in (caller_extension, target_extension) or {{ is_sip_name('target') }}
            when direction = 'inbound' then caller = caller_extension or {{ is_sip_name('caller') }}
        end as remote_is_ours,
        -- numbers without a country code belong to the Connection's default_region, else the registry's
        coalesce(default_region, {{ source_default('voicenter', 'default_region') }}) as phone_region,
        status,
        status_basis,
        call_status as source_status,
        dial_seconds as ring_seconds,
        -- talk only on an answered leg: a queue leg's duration less its wait, another leg's duration
        {{ talk_when_answered('status', 'connected_seconds') }} as talk_seconds,
        queue_wait_seconds,
        coalesce(
            representative_code,
            case when direction = 'inbound' then target_extension else caller_extension end
        ) as agent_id,
        coalesce(
            representative_name,
            case when direction = 'inbound' then target_extension_name else caller_extension_name end)
            as agent_name,
        queue_id,
        queue_name,
        leg1_status as dial_status,
        leg as call_leg,
        price_agorot as price_minor_units,
        case when price_agorot is not null then 'ILS' end as price_currency,
        ivr_path,
        recording_url,
        list_concat(invalid_values, list_filter([
            {{ talk_outside_answer_entry('duration', 'status', 'connected_seconds') }},
            { 'field': 'status', 'affects': 'status', 'value': case
                when status_basis = 'unmapped' or (call_status_key is not null and word_status is null)
                    then coalesce(call_status, '(missing)')
            end },
            { 'field': 'leg1DialStatusName', 'affects': 'status', 'value': case
                when leg1_status_key is not null and leg1_word_status is null then leg1_status
            end },
            { 'field': 'type', 'affects': 'direction', 'value': case
                when direction_basis = 'unmapped' or (call_type_key is not null and type_direction is null)
                    then coalesce(call_type, '(missing)')
            end }
        ], lambda item: item.value is not null)) as unmapped_values,
        extracted_at,
        -- Voicenter re-sends a CDR until it is acknowledged: the copy received first counts, so that a re-send
        -- that differs (counted in int_voicenter__resend_conflicts) cannot rewrite it
        received_at as read_order,
        true as first_read_wins,
        md5(content_key) as content_md5
    from decided

)

select * from final
