with

cdrs as (

    select * from {{ ref('stg_pbx__cdrs') }}

),

call_statuses as (

    select * from {{ ref('pbx_call_statuses') }}

),

-- Runs re-read the hours before their interval (late calls): each CDR id counts once, the latest read wins.
deduplicated as (

    select *
    from cdrs
    {{ keep_latest_read('pbx_cdr_id') }}

),

classified as (

    select
        deduplicated.*,
        case
            when direction_code = 'IN' then 'inbound'
            when direction_code = 'OUT' then 'outbound'
            when lower(call_code) = 'internal' then 'internal'
            else 'unknown'
        end as direction,
        case
            when deduplicated.call_status = 'NO ANSWER' and direction_code = 'IN' and queue_name is not null
                then 'abandoned'
            else coalesce(call_statuses.status, 'other')
        end as status,
        -- The agent's phone is the destination of an inbound call and the origin of an outbound one.
        case when direction_code = 'IN' then dst_channel_peer else channel_peer end as agent_peer,
        coalesce(caller_id_number, source_number) as caller_raw
    from deduplicated
    left join call_statuses on deduplicated.call_status = call_statuses.call_status

),

final as (

    select
        'pbx' as source,
        pbx_cdr_id as source_cdr_id,
        coalesce(linkedid, uniqueid, pbx_cdr_id) as call_key,
        started_at,
        ended_at,
        direction,
        cdr_e164(caller_raw, 'RO') as caller_number,
        cdr_e164(destination_number, 'RO') as callee_number,
        case direction
            when 'inbound' then cdr_country(caller_raw, 'RO')
            when 'outbound' then cdr_country(destination_number, 'RO')
        end as remote_country_code,
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
        extracted_at
    from classified

)

select * from final
