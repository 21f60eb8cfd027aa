{#- The lake keeps each Redis message whole; this is where its fields are read. -#}

{#- A notification's fields (a campaign message's payload, or one of a c2d message's notifications), all read as
    text and typed below. -#}
{%- set payload_fields = ['extension', 'number', 'call_ref', 'contact_ref', 'dialed_at', 'end_reason', 'end_code',
                          'call_time', 'call_dir', 'recording_url', 'ref', 'disposition'] -%}
-- noqa: disable=LT02
{%- set payload_schema -%}
{ {%- for name in payload_fields %}"{{ name }}": "VARCHAR"{{ ", " if not loop.last }}{% endfor -%} }
{%- endset %}
-- noqa: enable=LT02
with

source as (

    select * from {{ source('enigma', 'notifications') }}

),

parsed as (

    select
        *,
        try(
            json_transform(_raw, '{"type": "VARCHAR", "notifications": "JSON[]", "payload": {{ payload_schema }}}')
        ) as message
    from source

),

-- The deprecated c2d message holds a list of notifications: one row each.
exploded as (

    select
        parsed.*,
        -- sqlfluff cannot parse a lambda of two arguments (the item and its position)
        unnest(  -- noqa: PRS
            case
                when len(message.notifications) > 0
                    then list_transform(message.notifications, lambda item, i: {'item': item, 'position': i - 1})
                else [{'item': null::json, 'position': null::integer}]
            end
        ) as notification
    from parsed

),

fields as (

    select
        *,
        case when message.notifications is not null then 'c2d' else message.type end as message_type,
        coalesce(try(json_transform(notification.item, '{{ payload_schema }}')), message.payload) as p
    from exploded

),

renamed as (

    select
        message_type,
        nullif(trim(p.call_ref), '') as call_ref,
        md5(_raw) as message_md5,
        notification.position as notification_index,
        nullif(trim(p.extension), '') as extension,
        nullif(trim(p.number), '') as dialed_number,
        nullif(trim(p.contact_ref), '') as contact_ref,
        p.dialed_at as dialed_at_as_sent,
        -- dialed_at comes as epoch seconds, ISO 8601 with an offset, or ISO 8601 in the dialer's time zone.
        case
            when regexp_full_match(trim(p.dialed_at), '-?[0-9]+(\.[0-9]+)?')
                then {{ bounded_epoch('trim(p.dialed_at)') }}
            when regexp_matches(trim(p.dialed_at), '([+-][0-9]{2}(:?[0-9]{2})?|Z)$')
                then try_cast(replace(trim(p.dialed_at), 'Z', '+00:00') as timestamptz)
            else timezone(_timezone, try_cast(trim(p.dialed_at) as timestamp))
        end as dialed_at,
        -- The c2d key calls it disposition; the campaigns key end_reason.
        coalesce(p.end_reason, p.disposition) as end_reason,
        p.end_code as end_code_as_sent,
        try_cast(trim(p.end_code) as integer) as end_code,
        {{ bounded_seconds('trim(p.call_time)') }} as call_time_seconds,
        {{ invalid_values([
            invalid_entry('call_time', 'p.call_time', bounded_seconds('trim(p.call_time)')),
            invalid_entry('dialed_at', 'p.dialed_at', 'dialed_at'),
        ]) }} as invalid_values,
        p.call_dir,
        nullif(p.recording_url, '') as recording_url,
        nullif(trim(p.ref), '') as campaign_ref,
        _key as redis_key,
        _timezone as dialer_timezone,
        -- the Connection's region for numbers without a country code (null in files older than the column)
        upper(_default_region) as default_region,
        _batch as drain_batch,
        _interval_start as lake_interval_start,
        _extracted_at as extracted_at,
        _raw as raw_message
    from fields

)

select * from renamed
