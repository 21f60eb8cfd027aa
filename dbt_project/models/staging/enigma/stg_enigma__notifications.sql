with

source as (

    select * from {{ source('enigma', 'notifications') }}

),

renamed as (

    select
        message_type,
        nullif(trim(call_ref), '') as call_ref,
        message_md5,
        notification_index,
        nullif(trim(extension), '') as extension,
        nullif(trim(number), '') as dialed_number,
        nullif(trim(contact_ref), '') as contact_ref,
        dialed_at as dialed_at_as_sent,
        dialed_at_utc as dialed_at,
        -- The c2d key calls it disposition; the campaigns key end_reason.
        coalesce(end_reason, disposition) as end_reason,
        upper(replace(trim(coalesce(end_reason, disposition)), ' ', '_')) as end_reason_code,
        try_cast(end_code as integer) as end_code,
        try_cast(call_time as integer) as call_time_seconds,
        lower(nullif(trim(call_dir), '')) as call_dir,
        nullif(trim(recording_url), '') as recording_url,
        nullif(trim(ref), '') as campaign_ref,
        _key as redis_key,
        _timezone as dialer_timezone,
        _batch as drain_batch,
        _interval_start as lake_interval_start,
        _extracted_at as extracted_at,
        _raw as raw_message

    from source

)

select * from renamed
