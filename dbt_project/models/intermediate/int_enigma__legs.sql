with

notifications as (

    select * from {{ ref('stg_enigma__notifications') }}

),

end_reasons as (

    select * from {{ ref('enigma_end_reasons') }}

),

cdrs as (

    select
        *,
        coalesce(call_ref, message_md5 || ':' || coalesce(notification_index, 0)) as enigma_cdr_key
    from notifications
    where message_type in ('cdr', 'c2d')

),

classified as (

    select
        cdrs.*,
        case
            when call_dir in ('inbound', 'outbound') then call_dir
            -- click-to-dial: an agent's call out
            when message_type = 'c2d' then 'outbound'
            else 'unknown'
        end as direction,
        case
            when message_type = 'cdr' and extension is null then 'abandoned'
            else coalesce(end_reasons.status, 'other')
        end as status
    from cdrs
    left join end_reasons on cdrs.end_reason_code = end_reasons.end_reason

),

final as (

    select
        'enigma' as source,
        enigma_cdr_key as source_cdr_id,
        enigma_cdr_key as call_key,
        -- c2d notifications carry no time: they are sent when the call ends, so the drain time stands in.
        coalesce(dialed_at, extracted_at) as started_at,
        coalesce(dialed_at, extracted_at) + to_seconds(coalesce(call_time_seconds, 0)) as ended_at,
        direction,
        case when direction = 'inbound' then dialed_number else extension end as caller_number_as_sent,
        case when direction = 'inbound' then extension else dialed_number end as callee_number_as_sent,
        'ZA' as phone_region,
        status,
        end_reason as source_status,
        cast(null as integer) as ring_seconds,
        call_time_seconds as talk_seconds,
        cast(null as integer) as queue_wait_seconds,
        extension as agent_id,
        cast(null as varchar) as agent_name,
        campaign_ref as queue_id,
        campaign_ref as queue_name,
        end_code as sip_code,
        recording_url,
        extracted_at,
        lake_interval_start as read_order
    from classified

)

select * from final
