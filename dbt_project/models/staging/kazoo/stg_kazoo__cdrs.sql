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
        -- list rows say `direction`, the stored CDR document `call_direction`: both the switch's
        coalesce(nullif(trim("direction"), ''), json_extract_string(_raw, '$.call_direction')) as switch_direction,
        nullif(trim(caller_id_number), '') as caller_id_number,
        nullif(trim(caller_id_name), '') as caller_id_name,
        nullif(trim(callee_id_number), '') as callee_id_number,
        nullif(trim(callee_id_name), '') as callee_id_name,
        nullif(trim(dialed_number), '') as dialed_number,
        -- SIP addresses KAZOO builds for the leg (`user@realm`): who placed it and what it asked for
        nullif(trim("from"), '') as from_uri,
        nullif(trim("to"), '') as to_uri,
        nullif(trim(request), '') as request_uri,
        nullif(trim(calling_from), '') as calling_from,
        hangup_cause,
        -- the full CDR document's SIP answer (`sip:486`); list rows carry it only in _raw, where present
        json_extract_string(_raw, '$.hangup_code') as hangup_code,
        {{ bounded_seconds('duration_seconds') }} as duration_seconds,
        {{ bounded_seconds('billing_seconds') }} as billing_seconds,
        -- KAZOO timestamps are Gregorian seconds: Unix seconds + 62167219200. The same start is written four
        -- more ways, each a witness where `timestamp` is missing or impossible ("0" in the 2015 examples' kind):
        -- `unix_timestamp`; `datetime` (UTC unless the request asked for an offset, which the pull never does);
        -- `rfc_1036` and, in newer releases, `iso_8601_combined` (quotes round them in the 2015 document).
        {{ bounded_epoch('"timestamp" - 62167219200') }} as started_at_gregorian,
        {{ bounded_epoch('unix_timestamp') }} as started_at_unix,
        {{ bounded_utc_text('"datetime"', '%Y-%m-%d %H:%M:%S') }} as started_at_datetime,
        {{ bounded_utc_text('rfc_1036', '%a, %d %b %Y %H:%M:%S GMT') }} as started_at_rfc_1036,
        {{ bounded_utc_text("json_extract_string(_raw, '$.iso_8601_combined')") }} as started_at_iso_8601,
        {{ invalid_values([
            invalid_entry('duration_seconds', sent_value('duration_seconds', 'duration_seconds'),
                          bounded_seconds('duration_seconds')),
            invalid_entry('billing_seconds', sent_value('billing_seconds', 'billing_seconds'),
                          bounded_seconds('billing_seconds')),
            invalid_entry('timestamp', sent_value('"timestamp"', 'timestamp'), bounded_epoch('"timestamp" - 62167219200')),
            invalid_entry('unix_timestamp', sent_value('unix_timestamp', 'unix_timestamp'), bounded_epoch('unix_timestamp')),
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
