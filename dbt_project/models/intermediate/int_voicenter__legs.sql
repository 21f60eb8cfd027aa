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

-- Voicenter re-sends a CDR until it is acknowledged: each ivruniqueid counts once, the latest received wins.
deduplicated as (

    select * from cdrs
    qualify row_number() over (partition by ivruniqueid order by received_at desc, extracted_at desc) = 1

),

classified as (

    select
        deduplicated.*,
        coalesce(call_types.direction, 'unknown') as direction,
        call_types.leg,
        coalesce(statuses.status, 'other') as status,
        -- the outside party: the caller of an inbound call, the target of an outbound one
        case when call_types.direction = 'inbound' then caller else target end as remote_raw
    from deduplicated
    left join call_types on deduplicated.call_type_key = call_types.type_key
    left join statuses on deduplicated.call_status = statuses.source_status

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
        cdr_e164(caller, 'IL') as caller_number,
        cdr_e164(case when direction = 'inbound' then coalesce(did, target) else target end, 'IL') as callee_number,
        case when direction in ('inbound', 'outbound') then cdr_country(remote_raw, 'IL') end as remote_country_code,
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
        extracted_at
    from classified

)

select * from final
