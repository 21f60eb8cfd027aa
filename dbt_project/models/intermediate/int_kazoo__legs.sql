with

cdrs as (

    select * from {{ ref('stg_kazoo__cdrs') }}

),

hangup_causes as (

    select * from {{ ref('kazoo_hangup_causes') }}

),

classified as (

    select
        cdrs.*,
        regexp_full_match(coalesce(caller_id_number, ''), '[0-9]{2,6}') as caller_is_extension,
        regexp_full_match(coalesce(callee_id_number, ''), '[0-9]{2,6}') as callee_is_extension,
        case
            when owner_id is not null and switch_direction = 'inbound'
                then case when regexp_full_match(coalesce(callee_id_number, ''), '[0-9]{2,6}')
                          then 'internal' else 'outbound' end
            when owner_id is not null and switch_direction = 'outbound'
                then case when regexp_full_match(coalesce(caller_id_number, ''), '[0-9]{2,6}')
                          then 'internal' else 'inbound' end
            when switch_direction = 'inbound' then 'inbound'
            when switch_direction = 'outbound' then 'outbound'
            else 'unknown'
        end as direction,
        case
            when coalesce(billing_seconds, 0) > 0 then 'answered'
            else coalesce(hangup_causes.status, 'other')
        end as status
    from cdrs
    left join hangup_causes on cdrs.hangup_cause = hangup_causes.hangup_cause

),

final as (

    select
        'kazoo' as source,
        kazoo_cdr_id as source_cdr_id,
        coalesce(interaction_id, bridge_id, call_id) as call_key,
        started_at,
        started_at + to_seconds(coalesce(duration_seconds, 0)) as ended_at,
        direction,
        caller_id_number as caller_number_as_sent,
        callee_id_number as callee_number_as_sent,
        -- numbers without a country code belong to the connection's default_region
        default_region as phone_region,
        status,
        hangup_cause as source_status,
        greatest(coalesce(duration_seconds, 0) - coalesce(billing_seconds, 0), 0) as ring_seconds,
        billing_seconds as talk_seconds,
        cast(null as integer) as queue_wait_seconds,
        owner_id as agent_id,
        -- The agent is on the side of the leg that touches their device.
        case when switch_direction = 'outbound' then callee_id_name else caller_id_name end as agent_name,
        cast(null as varchar) as queue_id,
        cast(null as varchar) as queue_name,
        recording_url,
        extracted_at,
        lake_interval_start as read_order
    from classified

)

select * from final
