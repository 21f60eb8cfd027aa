with

cdrs as (

    select * from {{ ref('stg_pbx__cdrs') }}

),

call_statuses as (

    select * from {{ ref('pbx_call_statuses') }}

),

classified as (

    select
        cdrs.*,
        case
            when direction_code = 'IN' then 'inbound'
            when direction_code = 'OUT' then 'outbound'
            when lower(call_code) = 'internal' then 'internal'
            else 'unknown'
        end as direction,
        case
            when cdrs.call_status = 'NO ANSWER' and direction_code = 'IN' and queue_name is not null
                then 'abandoned'
            else coalesce(call_statuses.status, 'other')
        end as status,
        -- The agent's phone is the destination of an inbound call and the origin of an outbound one.
        case when direction_code = 'IN' then dst_channel_peer else channel_peer end as agent_peer,
        coalesce(caller_id_number, source_number) as caller_raw
    from cdrs
    left join call_statuses on cdrs.call_status = call_statuses.call_status

),

final as (

    select
        'pbx' as source,
        pbx_cdr_id as source_cdr_id,
        coalesce(linkedid, uniqueid, pbx_cdr_id) as call_key,
        started_at,
        ended_at,
        direction,
        caller_raw as caller_number_as_sent,
        destination_number as callee_number_as_sent,
        'RO' as phone_region,
        status,
        call_status as source_status,
        ring_seconds,
        bill_seconds as talk_seconds,
        case when queue_name is not null then hold_seconds end as queue_wait_seconds,
        case when user_fullname is not null or agent_peer is not null then agent_peer end as agent_id,
        user_fullname as agent_name,
        queue_name as queue_id,
        queue_name,
        recording_url,
        extracted_at,
        -- runs re-read the hours before their interval (late calls)
        lake_interval_start as read_order
    from classified

)

select * from final
