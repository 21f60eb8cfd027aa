-- The benchmark's yardstick: the lake-to-fct_cdr transformation as one hand-written DuckDB statement, with no
-- dbt, no views and no tests. {lake} and {seeds} are filled in by bench/warehouse_build.py; cdr_e164 and
-- cdr_country are the same libphonenumber functions the dbt build registers.
create table fct_cdr as
with
kazoo_causes as (select * from read_csv('{seeds}/kazoo_hangup_causes.csv', all_varchar = true)),
pbx_statuses as (select * from read_csv('{seeds}/pbx_call_statuses.csv', all_varchar = true)),
enigma_reasons as (select * from read_csv('{seeds}/enigma_end_reasons.csv', all_varchar = true)),
voicenter_types as (select * from read_csv('{seeds}/voicenter_call_types.csv', all_varchar = true)),
voicenter_statuses as (select * from read_csv('{seeds}/voicenter_statuses.csv', all_varchar = true)),

kazoo as (
    select
        'kazoo' as source, k.id as source_cdr_id,
        coalesce(nullif(trim(interaction_id), ''), nullif(trim(bridge_id), ''), call_id) as call_key,
        to_timestamp("timestamp" - 62167219200) as started_at,
        to_timestamp("timestamp" - 62167219200) + to_seconds(coalesce(duration_seconds, 0)) as ended_at,
        case
            when owner_id is not null and lower(direction) = 'inbound'
                then case when regexp_full_match(coalesce(callee_id_number, ''), '[0-9]{2,6}') then 'internal' else 'outbound' end
            when owner_id is not null and lower(direction) = 'outbound'
                then case when regexp_full_match(coalesce(caller_id_number, ''), '[0-9]{2,6}') then 'internal' else 'inbound' end
            when lower(direction) in ('inbound', 'outbound') then lower(direction)
            else 'unknown'
        end as direction,
        caller_id_number as caller_raw, callee_id_number as callee_raw, upper(_default_region) as region,
        case when coalesce(billing_seconds, 0) > 0 then 'answered' else coalesce(c.status, 'other') end as status,
        k.hangup_cause as source_status,
        greatest(coalesce(duration_seconds, 0) - coalesce(billing_seconds, 0), 0) as ring_seconds,
        billing_seconds as talk_seconds, null::integer as queue_wait_seconds,
        owner_id as agent_id, null as queue_id, recording_url,
        _extracted_at as extracted_at, _interval_start as read_order
    from read_parquet('{lake}/kazoo/**/*.parquet', union_by_name = true) k
    left join kazoo_causes c on k.hangup_cause = c.hangup_cause
),

pbx as (
    select
        'pbx', p.id, coalesce(linkedid, uniqueid, p.id), time_utc, time_end_utc,
        case when upper(direction) = 'IN' then 'inbound' when upper(direction) = 'OUT' then 'outbound'
             when lower(code) = 'internal' then 'internal' else 'unknown' end,
        coalesce(nullif(regexp_extract(caller_id, '<([^>]*)>', 1), ''), nullif(trim("source"), '')),
        nullif(trim(destination), ''), 'RO',
        case when upper(p.call_status) = 'NO ANSWER' and upper(direction) = 'IN' and nullif(trim(qname), '') is not null
             then 'abandoned' else coalesce(s.status, 'other') end,
        upper(p.call_status),
        {hms}ring_time{end_hms}, {hms}bill_duration{end_hms},
        case when nullif(trim(qname), '') is not null then {hms}hold_time{end_hms} end,
        case when upper(direction) = 'IN' then regexp_extract(dstchannel_formatted, '^[^/]+/(.+)$', 1)
             else regexp_extract(channel_formatted, '^[^/]+/(.+)$', 1) end,
        nullif(trim(qname), ''), recording_url, _extracted_at, _interval_start
    from read_parquet('{lake}/pbx/**/*.parquet', union_by_name = true) p
    left join pbx_statuses s on upper(p.call_status) = s.call_status
),

enigma_messages as (
    select
        json_extract_string(_raw, '$.type') as message_type,
        json_extract_string(_raw, ['$.payload.call_ref', '$.payload.extension', '$.payload.number',
            '$.payload.dialed_at', '$.payload.end_reason', '$.payload.call_time', '$.payload.call_dir',
            '$.payload.ref', '$.payload.recording_url']) as f,
        md5(_raw) as message_md5, _extracted_at, _interval_start
    from read_parquet('{lake}/enigma/**/*.parquet', union_by_name = true)
),

enigma as (
    select
        'enigma', coalesce(f[1], message_md5 || ':0') as id, coalesce(f[1], message_md5 || ':0'),
        coalesce(try_cast(replace(f[4], 'Z', '+00:00') as timestamptz), _extracted_at),
        coalesce(try_cast(replace(f[4], 'Z', '+00:00') as timestamptz), _extracted_at)
            + to_seconds(coalesce(try_cast(f[6] as integer), 0)),
        case when lower(f[7]) in ('inbound', 'outbound') then lower(f[7]) else 'unknown' end as dir,
        case when lower(f[7]) = 'inbound' then f[3] else f[2] end,
        case when lower(f[7]) = 'inbound' then f[2] else f[3] end, 'ZA',
        case when f[2] is null then 'abandoned' else coalesce(r.status, 'other') end,
        f[5], null::integer, try_cast(f[6] as integer), null::integer, f[2], f[8], f[9],
        _extracted_at, _interval_start
    from enigma_messages
    left join enigma_reasons r on upper(replace(trim(f[5]), ' ', '_')) = r.end_reason
    where message_type = 'cdr'
),

voicenter as (
    select
        'voicenter', ivruniqueid, coalesce(nullif(trim("OriginalIvrUniqueID"), ''), ivruniqueid),
        to_timestamp("time"), to_timestamp("time") + to_seconds(coalesce(dialtime, 0) + coalesce(duration, 0)),
        coalesce(t.direction, 'unknown') as dir,
        caller, case when t.direction = 'inbound' then coalesce(did, target) else target end, 'IL',
        coalesce(s.status, 'other'), upper(v.status), dialtime, duration, seconds_waiting_in_queue,
        coalesce(representative_code, case when t.direction = 'inbound' then targetextension else callerextension end),
        nullif(queueid, '0'), record, _extracted_at, received_at
    from read_parquet('{lake}/voicenter/**/*.parquet', union_by_name = true) v
    left join voicenter_types t on lower(regexp_replace(v."type", '[^A-Za-z0-9]', '', 'g')) = t.type_key
    left join voicenter_statuses s on upper(v.status) = s.source_status
),

legs as (
    select * from kazoo union all select * from pbx union all select * from enigma union all select * from voicenter
),

latest as (
    select * from legs
    qualify row_number() over (partition by source, source_cdr_id order by extracted_at desc, read_order desc nulls last) = 1
),

numbers as materialized (
    select number, region, cdr_e164(number, region) as e164, cdr_country(number, region) as country
    from (select distinct number, region from (
        select caller_raw as number, region from latest union all select callee_raw, region from latest)
        where number is not null)
)

select
    md5(l.source || ':' || l.source_cdr_id) as cdr_key, l.source, l.source_cdr_id, l.call_key, l.started_at, l.ended_at,
    cast(l.started_at at time zone 'UTC' as date) as date_key, l.direction,
    caller.e164 as caller_number, callee.e164 as callee_number,
    case l.direction when 'inbound' then caller.country when 'outbound' then callee.country end as remote_country_code,
    l.status, l.source_status, l.ring_seconds::integer as ring_seconds, l.talk_seconds::integer as talk_seconds,
    l.queue_wait_seconds::integer as queue_wait_seconds,
    case when l.agent_id is not null then md5(l.source || ':' || l.agent_id) end as agent_key,
    case when l.queue_id is not null then md5(l.source || ':' || l.queue_id) end as queue_key,
    l.recording_url, l.extracted_at
from latest l
left join numbers caller on l.caller_raw = caller.number and l.region = caller.region
left join numbers callee on l.callee_raw = callee.number and l.region = callee.region
