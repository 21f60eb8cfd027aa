with

source as (

    select * from {{ source('pbx', 'cdrs') }}

),

renamed as (

    select
        id as pbx_cdr_id,
        uniqueid,
        linkedid,
        -- read in the PBX's zone by the pull (null where `time` cannot be read: counted below)
        {{ bounded_instant('time_utc') }} as started_at,
        {{ bounded_instant('time_end_utc') }} as ended_at,
        try_cast("time" as timestamp) as started_at_local,
        _timezone as pbx_timezone,
        -- the Connection's region for numbers without a country code (null in files older than the column)
        upper(_default_region) as default_region,
        "direction" as direction_code,
        code as call_code,
        -- caller_id comes as "Name" <number>
        nullif(regexp_extract(caller_id, '^\s*"([^"]*)"', 1), '') as caller_id_name,
        nullif(regexp_extract(caller_id, '<([^>]*)>', 1), '') as caller_id_number,
        nullif(trim("source"), '') as source_number,
        nullif(trim(destination), '') as destination_number,
        nullif(trim(channel_formatted), '') as channel,
        nullif(regexp_extract(channel_formatted, '^[^/]+/(.+)$', 1), '') as channel_peer,
        nullif(trim(dstchannel_formatted), '') as dst_channel,
        nullif(regexp_extract(dstchannel_formatted, '^[^/]+/(.+)$', 1), '') as dst_channel_peer,
        nullif(trim(user_fullname), '') as user_fullname,
        nullif(trim(qname), '') as queue_name,
        call_status,
        call_status_info,
        -- call_status_info comes as DS:<dial status>|HC:<hangup cause>|HI:<SIP answer>
        nullif(regexp_extract(call_status_info, '(?i)DS:([^|]*)', 1), '') as dial_status,
        nullif(regexp_extract(call_status_info, '(?i)HC:([^|]*)', 1), '') as hangup_cause,
        try_cast(nullif(regexp_extract(call_status_info, '(?i)HC:\s*([0-9]+)', 1), '') as integer) as hangup_cause_code,
        try_cast(nullif(regexp_extract(call_status_info, '(?i)HI:\s*SIP/?[0-9.]*\s*([0-9]{3})', 1), '') as integer)
            as sip_code,
        nullif(regexp_extract(call_status_info, '(?i)HI:([^|]*)', 1), '') as sip_reason,
        call_codes,
        project,
        inbound_route,
        nullif(recording_url, '') as recording_url,
        {{ hms_to_seconds('duration') }} as duration_seconds,
        {{ hms_to_seconds('bill_duration') }} as bill_seconds,
        {{ hms_to_seconds('ring_time') }} as ring_seconds,
        {{ hms_to_seconds('hold_time') }} as hold_seconds,
        {{ hms_to_seconds('ivr_duration') }} as ivr_seconds,
        {{ invalid_values([
            invalid_entry('time', 'nullif(trim("time"), \'\')', bounded_instant('time_utc')),
            invalid_entry('time_end', 'nullif(trim(time_end), \'\')', bounded_instant('time_end_utc')),
            invalid_entry('duration', 'duration', hms_to_seconds('duration')),
            invalid_entry('bill_duration', 'bill_duration', hms_to_seconds('bill_duration')),
            invalid_entry('ring_time', 'ring_time', hms_to_seconds('ring_time')),
            invalid_entry('hold_time', 'hold_time', hms_to_seconds('hold_time')),
        ]) }} as invalid_values,
        _interval_start as lake_interval_start,
        _interval_end as lake_interval_end,
        _extracted_at as extracted_at,
        _raw as raw_record

    from source

)

select * from renamed
