with

source as (

    select * from {{ source('kazoo', 'cdrs') }}

),

renamed as (

    select
        id as kazoo_cdr_id,
        call_id,
        nullif(trim(interaction_id), '') as interaction_id,
        nullif(trim(other_leg_call_id), '') as other_leg_call_id,
        nullif(trim(bridge_id), '') as bridge_id,
        "direction" as switch_direction,
        nullif(trim(caller_id_number), '') as caller_id_number,
        nullif(trim(caller_id_name), '') as caller_id_name,
        nullif(trim(callee_id_number), '') as callee_id_number,
        nullif(trim(callee_id_name), '') as callee_id_name,
        nullif(trim(dialed_number), '') as dialed_number,
        hangup_cause,
        -- the full CDR document's SIP answer (`sip:486`); list rows carry it only in _raw, where present
        json_extract_string(_raw, '$.hangup_code') as hangup_code,
        {{ bounded_seconds('duration_seconds') }} as duration_seconds,
        {{ bounded_seconds('billing_seconds') }} as billing_seconds,
        -- KAZOO timestamps are Gregorian seconds: Unix seconds + 62167219200.
        {{ bounded_epoch('"timestamp" - 62167219200') }} as started_at,
        {{ invalid_values([
            invalid_entry('duration_seconds', 'duration_seconds', bounded_seconds('duration_seconds')),
            invalid_entry('billing_seconds', 'billing_seconds', bounded_seconds('billing_seconds')),
            invalid_entry('timestamp', '"timestamp"', bounded_epoch('"timestamp" - 62167219200')),
        ]) }} as invalid_values,
        nullif(trim(owner_id), '') as owner_id,
        nullif(trim(authorizing_id), '') as authorizing_id,
        nullif(recording_url, '') as recording_url,
        nullif(trim(call_type), '') as call_type,
        nullif(trim(media_server), '') as media_server,
        upper(_default_region) as default_region,
        _interval_start as lake_interval_start,
        _interval_end as lake_interval_end,
        _extracted_at as extracted_at,
        _raw as raw_record

    from source

)

select * from renamed
