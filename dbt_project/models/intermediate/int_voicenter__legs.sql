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

classified as (

    select
        cdrs.*,
        coalesce(call_types.direction, 'unknown') as direction,
        call_types.leg,
        coalesce(statuses.status, 'other') as status
    from cdrs
    left join call_types on cdrs.call_type_key = call_types.type_key
    left join statuses on cdrs.call_status = statuses.source_status

),

final as (

    select
        'voicenter' as source,
        ivruniqueid as source_cdr_id,
        -- legs 1 and 2 and transfers name their origin call in OriginalIvrUniqueID
        coalesce(original_ivruniqueid, ivruniqueid) as call_key,
        -- a CDR without `time` (never seen, but a form body can omit it): the receiving time stands in
        coalesce(started_at, received_at) as started_at,
        coalesce(started_at, received_at) + to_seconds(coalesce(dial_seconds, 0) + coalesce(duration_seconds, 0))
            as ended_at,
        direction,
        caller as caller_number_as_sent,
        case when direction = 'inbound' then coalesce(did, target) else target end as callee_number_as_sent,
        'IL' as phone_region,
        status,
        call_status as source_status,
        dial_seconds as ring_seconds,
        duration_seconds as talk_seconds,
        queue_wait_seconds,
        coalesce(representative_code,
                 case when direction = 'inbound' then target_extension else caller_extension end) as agent_id,
        coalesce(representative_name,
                 case when direction = 'inbound' then target_extension_name else caller_extension_name end)
            as agent_name,
        queue_id,
        queue_name,
        leg as call_leg,
        price_agorot as price_minor_units,
        case when price_agorot is not null then 'ILS' end as price_currency,
        ivr_path,
        recording_url,
        extracted_at,
        -- Voicenter re-sends a CDR until it is acknowledged: the copy received last is the latest read
        received_at as read_order
    from classified

)

select * from final
