with

legs as (

    select * from {{ ref('int_cdr__legs') }}

),

final as (

    select
        md5(source || ':' || source_cdr_id) as cdr_key,
        source,
        source_cdr_id,
        call_key,
        started_at,
        ended_at,
        cast(started_at at time zone 'UTC' as date) as date_key,
        hour(started_at at time zone 'UTC') as started_hour_utc,
        direction,
        caller_number,
        callee_number,
        remote_country_code,
        status,
        source_status,
        cast(ring_seconds as integer) as ring_seconds,
        cast(talk_seconds as integer) as talk_seconds,
        cast(queue_wait_seconds as integer) as queue_wait_seconds,
        case when agent_id is not null then md5(source || ':' || agent_id) end as agent_key,
        case when queue_id is not null then md5(source || ':' || queue_id) end as queue_key,
        recording_url,
        price_minor_units,
        price_currency,
        extracted_at
    from legs

)

select * from final
