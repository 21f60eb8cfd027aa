with

source as (

    select * from {{ source('voicenter', 'cdrs') }}

),

renamed as (

    select
        ivruniqueid,
        nullif(trim("OriginalIvrUniqueID"), '') as original_ivruniqueid,
        "type" as call_type,
        status as call_status,
        "leg1DialStatusName" as leg1_status,
        nullif(trim(caller), '') as caller,
        nullif(trim(target), '') as target,
        nullif(trim(did), '') as did,
        nullif(trim(targetextension), '') as target_extension,
        nullif(trim(targetextension_name), '') as target_extension_name,
        nullif(trim(callerextension), '') as caller_extension,
        nullif(trim(callerextension_name), '') as caller_extension_name,
        -- queueid 0 means no queue
        nullif(nullif(trim(queueid), ''), '0') as queue_id,
        nullif(trim(queuename), '') as queue_name,
        nullif(record, '') as recording_url,
        nullif(trim(representative_code), '') as representative_code,
        nullif(trim(representative_name), '') as representative_name,
        nullif(trim(target_country), '') as target_country,
        nullif(trim(caller_country), '') as caller_country,
        "DepartmentID" as department_id,
        "DepartmentName" as department_name,
        -- `time` is the account's wall-clock time written as epoch seconds; the loader and the reconciliation
        -- keep the true instant in time_utc (cdr.sources.voicenter.times). Null in files older than that column:
        -- int_voicenter__legs reads their `time` then.
        {{ bounded_instant('time_utc') }} as started_at,
        {{ bounded_epoch('"time"') }} as time_as_utc,
        _timezone as account_timezone,
        "time" as source_time,
        _time_basis as time_basis,
        {{ bounded_seconds('duration') }} as duration_seconds,
        {{ bounded_seconds('dialtime') }} as dial_seconds,
        {{ bounded_seconds('seconds_waiting_in_queue') }} as queue_wait_seconds,
        {{ invalid_values([
            invalid_entry('time', sent_value('"time"', 'time'), bounded_epoch('"time"')),
            invalid_entry('duration', sent_value('duration', 'duration'), bounded_seconds('duration')),
            invalid_entry('dialtime', sent_value('dialtime', 'dialtime'), bounded_seconds('dialtime')),
            invalid_entry('seconds_waiting_in_queue', sent_value('seconds_waiting_in_queue', 'seconds_waiting_in_queue'),
                          bounded_seconds('seconds_waiting_in_queue')),
            invalid_entry('price', sent_value('price', 'price'), 'price'),
        ]) }} as invalid_values,
        price as price_agorot,
        -- IVR arrives as an array or as a JSON string holding one: kept as a JSON list either way, minified, so that
        -- one path is one text whichever way it came (DuckDB compares JSON as text)
        case when json_valid("IVR") and json_type("IVR") = 'ARRAY' then json("IVR") end as ivr_path,
        received_at,
        received_format,
        -- `webhook` (the receiver staged it) or `call_log` (voicenter_reconcile recovered it); older files: webhook
        coalesce(_origin, 'webhook') as origin,
        -- the region for numbers without a country code as loaded (null in files older than the column)
        upper(_default_region) as default_region,
        _interval_start as lake_interval_start,
        _extracted_at as extracted_at,
        _raw as raw_record

    from source

)

select * from renamed
