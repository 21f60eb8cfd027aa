-- The benchmark's yardstick: the lake-to-fct_cdr transformation as a hand-written DuckDB script, with no dbt, no
-- views and no tests: what a user who writes the SQL themselves would run. It applies the model's rules (the
-- int_<source>__legs models, fct_cdr, the macros of dbt_project/macros and the vocabulary seeds) but computes only
-- the contract's columns, not the model's audit trail (direction_basis, status_basis, unmapped_values, names,
-- hangup_cause, sip_code, dial_status, call_leg, ivr_path, price): bench/warehouse_build.py compares the columns
-- it computes (COMPARED there), leg for leg, and stops if they differ: a change to a rule is made here too. {lake}
-- and {seeds} are filled in by the benchmark; cdr_e164, cdr_country and cdr_is_number are the libphonenumber
-- functions the dbt build registers, and `countries` (ISO 3166, as dim_country) is made by the benchmark's runner.

create temp macro vocab_key(x) as nullif(upper(regexp_replace(coalesce(x, ''), '[^A-Za-z0-9]', '', 'g')), '');
create temp macro digits(x) as ltrim(regexp_replace(coalesce(x, ''), '[^0-9]', '', 'g'), '0');
create temp macro bounded_seconds(x) as
    case when try_cast(x as bigint) between 0 and 86400 then try_cast(x as integer) end;
create temp macro bounded_epoch(x) as
    case when try_cast(x as double) between 946684800 and 4102444800 then to_timestamp(try_cast(x as double)) end;
create temp macro hms_seconds(x) as bounded_seconds(
    case when regexp_full_match(x, '[0-9]{1,9}:[0-5][0-9]:[0-5][0-9]') then
        cast(split_part(x, ':', 1) as bigint) * 3600 + cast(split_part(x, ':', 2) as bigint) * 60
        + cast(split_part(x, ':', 3) as bigint) end);
create temp macro is_extension(x) as coalesce(regexp_full_match(trim(x), '[0-9]{2,6}'), false);
create temp macro is_service(x) as
    coalesce(regexp_full_match(trim(x), '\*[0-9*#]+'), false)
    or coalesce(regexp_matches(x, '(?i)voice ?mail|vmbox|^\s*vm[-_ ]?[0-9]*\s*$|conferenc|^\s*conf\b|park|queue|\bivr\b|\bmenu\b'), false);
create temp macro bounded_instant(x) as
    case when x >= timestamptz '2000-01-01 00:00:00+00' and x < timestamptz '2100-01-01 00:00:00+00' then x end;
create temp macro sip_user(x) as nullif(trim(split_part(regexp_replace(coalesce(x, ''), '^\s*sips?:', ''), '@', 1)), '');
create temp macro is_withheld(x) as coalesce(vocab_key(x) in ('ANONYMOUS', 'UNKNOWN', 'PRIVATE', 'RESTRICTED',
    'UNAVAILABLE', 'WITHHELD', 'NONE', 'NULL'), false);
create temp macro is_placeholder(x) as
    (regexp_full_match(regexp_replace(coalesce(x, ''), '[\s().+-]', '', 'g'), '[0-9]+')
     and length(replace(regexp_replace(x, '[^0-9]', '', 'g'), left(regexp_replace(x, '[^0-9]', '', 'g'), 1), '')) = 0);
create temp macro is_phone_shaped(x) as
    (coalesce(regexp_full_match(regexp_replace(trim(x), '[\s().-]', '', 'g'), '\+?[0-9]{7,15}'), false)
     and not is_placeholder(x));
create temp macro is_sip_name(x) as (coalesce(regexp_matches(trim(x), '[A-Za-z_]'), false) and not is_withheld(x));
create temp macro talk_when_answered(status, seconds) as case when status = 'answered' then seconds else 0 end;
create temp macro party_direction(caller_ours, callee_ours) as
    case when caller_ours and callee_ours then 'internal' when caller_ours then 'outbound'
         when callee_ours then 'inbound' end;

create temp table hangup_causes as select * from read_csv('{seeds}/hangup_causes.csv',
    columns = {'cause': 'varchar', 'q850_code': 'integer', 'status': 'varchar', 'meaning': 'varchar'}, header = true);
create temp table sip_responses as select * from read_csv('{seeds}/sip_responses.csv', all_varchar = true);
create temp table asterisk_statuses as select * from read_csv('{seeds}/asterisk_statuses.csv', all_varchar = true);
create temp table direction_words as select * from read_csv('{seeds}/direction_words.csv', all_varchar = true);
create temp table enigma_end_reasons as select * from read_csv('{seeds}/enigma_end_reasons.csv', all_varchar = true);
create temp table voicenter_statuses as select * from read_csv('{seeds}/voicenter_statuses.csv', all_varchar = true);
create temp table voicenter_call_types as select * from read_csv('{seeds}/voicenter_call_types.csv', all_varchar = true);
-- each word once, by the key the rules match on
create temp table cause_by_name as select vocab_key(cause) as k, any_value(status) as status from hangup_causes group by 1;
create temp table cause_by_code as select q850_code as k, any_value(status) as status from hangup_causes
    where q850_code is not null group by 1;
create temp table own_numbers as
    select distinct owner_source, digits("number") as number_digits, right(digits("number"), 7) as number_key
    from read_parquet('{lake}/own_numbers/*.parquet', union_by_name = true, hive_partitioning = false)
    where length(digits("number")) >= 7;

create table fct_cdr as
with

kazoo_raw as (
    select
        id, nullif(trim(interaction_id), '') as interaction_id, nullif(trim(bridge_id), '') as bridge_id, call_id,
        coalesce(nullif(trim("direction"), ''), json_extract_string(_raw, '$.call_direction')) as switch_direction,
        nullif(trim(caller_id_number), '') as caller, nullif(trim(callee_id_number), '') as callee,
        nullif(trim(callee_id_name), '') as callee_name, nullif(trim(calling_from), '') as calling_from,
        sip_user(nullif(trim("from"), '')) as from_user,
        coalesce(nullif(trim(dialed_number), ''), sip_user(nullif(trim(request), '')), sip_user(nullif(trim("to"), '')))
            as dialled,
        hangup_cause,
        try_cast(regexp_extract(json_extract_string(_raw, '$.hangup_code'), '([0-9]{3})', 1) as integer) as sip_code,
        bounded_seconds(duration_seconds) as duration_s, bounded_seconds(billing_seconds) as billing_s,
        coalesce(
            bounded_epoch("timestamp" - 62167219200), bounded_epoch(unix_timestamp),
            bounded_instant(timezone('UTC', try_strptime(trim("datetime", '" '), '%Y-%m-%d %H:%M:%S'))),
            bounded_instant(timezone('UTC', try_strptime(trim(rfc_1036, '" '), '%a, %d %b %Y %H:%M:%S GMT'))),
            bounded_instant(try_cast(trim(json_extract_string(_raw, '$.iso_8601_combined'), '" ') as timestamptz))
        ) as ts,
        nullif(trim(owner_id), '') as owner_id, nullif(trim(authorizing_id), '') as authorizing_id,
        nullif(recording_url, '') as recording_url, coalesce(upper(_default_region), 'US') as region,
        _interval_start, _extracted_at
    from read_parquet('{lake}/kazoo/**/*.parquet', union_by_name = true, hive_partitioning = false)
),

kazoo_own as (
    select *,
        is_extension(caller) as caller_ext, is_extension(callee) as callee_ext,
        is_service(caller) as caller_svc, is_service(callee) as callee_svc,
        length(digits(caller)) >= 7 and exists (
            select 1 from own_numbers o where o.owner_source = 'kazoo' and o.number_key = right(digits(caller), 7)
            and (ends_with(digits(caller), o.number_digits) or ends_with(o.number_digits, digits(caller)))) as caller_own,
        length(digits(callee)) >= 7 and exists (
            select 1 from own_numbers o where o.owner_source = 'kazoo' and o.number_key = right(digits(callee), 7)
            and (ends_with(digits(callee), o.number_digits) or ends_with(o.number_digits, digits(callee)))) as callee_own,
        length(digits(dialled)) >= 7 and exists (
            select 1 from own_numbers o where o.owner_source = 'kazoo' and o.number_key = right(digits(dialled), 7)
            and (ends_with(digits(dialled), o.number_digits) or ends_with(o.number_digits, digits(dialled))))
            as dialled_own
    from kazoo_raw
),

kazoo_parties as (
    select *,
        caller_ext or caller_svc or caller_own or is_sip_name(from_user) or is_extension(from_user)
            or is_extension(calling_from) as caller_ours,
        callee_ext or callee_svc or callee_own or is_sip_name(dialled) or is_extension(dialled) or is_service(dialled)
            or dialled_own as callee_ours,
        is_phone_shaped(dialled) and not dialled_own as dialled_outside,
        (is_phone_shaped(caller) and not caller_own) or is_withheld(caller) as caller_outside,
        is_phone_shaped(callee) and not callee_own as callee_outside,
        owner_id is not null or authorizing_id is not null as placed_by_account,
        regexp_matches(coalesce(callee, '') || ' ' || coalesce(callee_name, ''), '(?i)voice ?mail|^\s*vm|^\*9[78]')
            as to_voicemail
    from kazoo_own
),

kazoo_directed as (
    select k.*,
        coalesce(case
            when caller_ours and callee_ours then 'internal'
            when caller_ours and (callee_outside or dialled_outside) then 'outbound'
            when callee_ours and caller_outside then 'inbound'
            when placed_by_account and dialled_outside and not callee_ours
                and (caller is null or caller = dialled or caller = callee or not is_phone_shaped(caller))
                then 'outbound'
            when w.direction = 'outbound' and (callee_outside or dialled_outside) then 'outbound'
            when w.direction = 'inbound' and caller_outside then 'inbound'
        end, 'unknown') as dir,
        case when coalesce(billing_s, 0) > 0 and to_voicemail then 'voicemail'
             when coalesce(billing_s, 0) > 0 then 'answered'
             else coalesce(by_name.status, by_code.status, sc.status, sx.status, 'other') end as status
    from kazoo_parties k
    left join direction_words w on vocab_key(k.switch_direction) = w.word
    left join cause_by_name by_name on vocab_key(k.hangup_cause) = by_name.k
    left join cause_by_code by_code on vocab_key(k.hangup_cause) = cast(by_code.k as varchar)
    left join sip_responses sc on sc.sip_code = cast(k.sip_code as varchar)
    left join sip_responses sx on sx.sip_code = cast(k.sip_code // 100 as varchar) || 'xx' and k.sip_code between 100 and 699
),

kazoo as (
    select
        'kazoo' as source, id as source_cdr_id, coalesce(interaction_id, bridge_id, call_id) as call_key,
        coalesce(ts, _interval_start) as started_at,
        coalesce(ts, _interval_start) + to_seconds(coalesce(duration_s, 0)) as ended_at,
        dir as direction,
        case when dir = 'outbound' and caller = dialled and not (caller_ext or caller_svc or caller_own)
             then coalesce(calling_from, from_user, caller) else caller end as caller_raw,
        case when dir = 'outbound' and not coalesce(callee_outside, false) and dialled_outside then dialled
             else callee end as callee_raw,
        region, status,
        hangup_cause as source_status,
        greatest(coalesce(duration_s, 0) - coalesce(billing_s, 0), 0) as ring_seconds,
        talk_when_answered(status, billing_s) as talk_seconds, null::integer as queue_wait_seconds,
        owner_id as agent_id, null::varchar as queue_id, recording_url,
        _extracted_at as extracted_at, _interval_start as read_order, false as first_read_wins
    from kazoo_directed
),

pbx_raw as (
    select
        id, uniqueid, linkedid, coalesce(bounded_instant(time_utc), _interval_start) as started,
        bounded_instant(time_end_utc) as time_end, hms_seconds(duration) as duration_s,
        coalesce(upper(_default_region), 'RO') as region, "direction" as direction_code, code,
        coalesce(nullif(regexp_extract(caller_id, '<([^>]*)>', 1), ''), nullif(trim("source"), '')) as caller,
        nullif(trim(destination), '') as callee,
        nullif(regexp_extract(channel_formatted, '^[^/]+/(.+)$', 1), '') as channel_peer,
        nullif(regexp_extract(dstchannel_formatted, '^[^/]+/(.+)$', 1), '') as dst_channel_peer,
        nullif(trim(qname), '') as queue_name, call_status,
        nullif(regexp_extract(call_status_info, '(?i)DS:([^|]*)', 1), '') as dial_status,
        try_cast(nullif(regexp_extract(call_status_info, '(?i)HC:\s*([0-9]+)', 1), '') as integer) as q850,
        try_cast(nullif(regexp_extract(call_status_info, '(?i)HI:\s*SIP/?[0-9.]*\s*([0-9]{3})', 1), '') as integer)
            as sip_code,
        hms_seconds(bill_duration) as bill_s, hms_seconds(ring_time) as ring_s, hms_seconds(hold_time) as hold_s,
        nullif(recording_url, '') as recording_url, _interval_start, _extracted_at
    from read_parquet('{lake}/pbx/**/*.parquet', union_by_name = true, hive_partitioning = false)
),

pbx_classified as (
    select p.*,
        party_direction(
            is_extension(caller) or (length(digits(caller)) >= 7 and exists (
                select 1 from own_numbers o where o.owner_source = 'pbx' and o.number_key = right(digits(caller), 7)
                and (ends_with(digits(caller), o.number_digits) or ends_with(o.number_digits, digits(caller))))),
            is_extension(callee) or (length(digits(callee)) >= 7 and exists (
                select 1 from own_numbers o where o.owner_source = 'pbx' and o.number_key = right(digits(callee), 7)
                and (ends_with(digits(callee), o.number_digits) or ends_with(o.number_digits, digits(callee)))))
        ) as party_dir,
        dw.direction as word_dir, cw.direction as code_dir,
        coalesce(cs.status, ds.status, case when coalesce(bill_s, 0) > 0 then 'answered' end,
                 sc.status, sx.status, hc.status) as witnessed
    from pbx_raw p
    left join direction_words dw on vocab_key(p.direction_code) = dw.word
    left join direction_words cw on vocab_key(p.code) = cw.word
    left join asterisk_statuses cs on vocab_key(p.call_status) = cs.word
    left join asterisk_statuses ds on vocab_key(p.dial_status) = ds.word
    left join cause_by_code hc on p.q850 = hc.k
    left join sip_responses sc on sc.sip_code = cast(p.sip_code as varchar)
    left join sip_responses sx on sx.sip_code = cast(p.sip_code // 100 as varchar) || 'xx' and p.sip_code between 100 and 699
),

pbx_directed as (
    select *,
        case when party_dir = 'internal' then 'internal' else coalesce(word_dir, code_dir, party_dir, 'unknown') end
            as dir
    from pbx_classified
),

pbx as (
    select
        'pbx', id, coalesce(linkedid, uniqueid, id), started,
        coalesce(time_end, started + to_seconds(coalesce(duration_s, 0))), dir, caller, callee, region,
        case when witnessed in ('no_answer', 'cancelled') and dir = 'inbound' and queue_name is not null
             then 'abandoned' else coalesce(witnessed, 'other') end,
        call_status, ring_s, talk_when_answered(witnessed, bill_s), case when queue_name is not null then hold_s end,
        case when dir = 'inbound' then dst_channel_peer else channel_peer end, queue_name, recording_url,
        _extracted_at, _interval_start, false
    from pbx_directed
),

enigma_messages as (
    select
        try(json_transform(_raw, '{"type": "VARCHAR", "notifications": "JSON[]", "payload": {"extension": "VARCHAR", "number": "VARCHAR", "call_ref": "VARCHAR", "dialed_at": "VARCHAR", "end_reason": "VARCHAR", "end_code": "VARCHAR", "call_time": "VARCHAR", "call_dir": "VARCHAR", "recording_url": "VARCHAR", "ref": "VARCHAR", "disposition": "VARCHAR"}}')) as m,
        md5(_raw) as message_md5, _timezone, coalesce(upper(_default_region), 'ZA') as region, _interval_start,
        _extracted_at
    from read_parquet('{lake}/enigma/**/*.parquet', union_by_name = true, hive_partitioning = false)
),

-- the deprecated c2d message holds a list of notifications: one row each
enigma_notifications as (
    select *, unnest(case when len(m.notifications) > 0
        then list_transform(m.notifications, lambda item, i: {'item': item, 'position': i - 1})
        else [{'item': null::json, 'position': null::integer}] end) as n
    from enigma_messages
),

enigma_fields as (
    select
        case when m.notifications is not null then 'c2d' else m.type end as message_type,
        coalesce(try(json_transform(n.item, '{"extension": "VARCHAR", "number": "VARCHAR", "call_ref": "VARCHAR", "dialed_at": "VARCHAR", "end_reason": "VARCHAR", "end_code": "VARCHAR", "call_time": "VARCHAR", "call_dir": "VARCHAR", "recording_url": "VARCHAR", "ref": "VARCHAR", "disposition": "VARCHAR"}')), m.payload) as p,
        n.position, message_md5, _timezone, region, _interval_start, _extracted_at
    from enigma_notifications
),

enigma_raw as (
    select
        message_type,
        coalesce(nullif(trim(p.call_ref), ''), message_md5 || ':' || coalesce(position, 0)) as id,
        nullif(trim(p.extension), '') as extension, nullif(trim(p.number), '') as dialed,
        case
            when regexp_full_match(trim(p.dialed_at), '-?[0-9]+(\.[0-9]+)?') then bounded_epoch(trim(p.dialed_at))
            when regexp_matches(trim(p.dialed_at), '([+-][0-9]{2}(:?[0-9]{2})?|Z)$')
                then try_cast(replace(trim(p.dialed_at), 'Z', '+00:00') as timestamptz)
            else timezone(_timezone, try_cast(trim(p.dialed_at) as timestamp))
        end as dialed_at,
        coalesce(p.end_reason, p.disposition) as end_reason, try_cast(trim(p.end_code) as integer) as end_code,
        bounded_seconds(trim(p.call_time)) as call_s, p.call_dir,
        nullif(p.recording_url, '') as recording_url, nullif(trim(p.ref), '') as campaign,
        region, _interval_start, _extracted_at
    from enigma_fields
    where message_type in ('cdr', 'c2d')
),

enigma_classified as (
    select e.*,
        coalesce(w.direction, 'outbound') as dir,
        case when message_type = 'cdr' and extension is null then 'abandoned'
             else coalesce(own.status, ast.status, sc.status, sx.status, hc.status,
                           case when coalesce(call_s, 0) > 0 then 'answered' end, 'other') end as status
    from enigma_raw e
    left join direction_words w on vocab_key(e.call_dir) = w.word
    left join enigma_end_reasons own on vocab_key(e.end_reason) = vocab_key(own.end_reason)
    left join asterisk_statuses ast on vocab_key(e.end_reason) = ast.word
    left join cause_by_code hc
        on hc.k = case when message_type = 'c2d' or end_code not between 100 and 699 then end_code end
    left join sip_responses sc
        on sc.sip_code = cast(case when message_type = 'cdr' and end_code between 100 and 699 then end_code end as varchar)
    left join sip_responses sx
        on sx.sip_code = cast(case when message_type = 'cdr' and end_code between 100 and 699 then end_code end // 100
            as varchar) || 'xx'
),

enigma as (
    select
        'enigma', id, id, coalesce(dialed_at, _extracted_at),
        coalesce(dialed_at, _extracted_at) + to_seconds(coalesce(call_s, 0)), dir,
        case when dir = 'inbound' then dialed else extension end,
        case when dir = 'inbound' then extension else dialed end, region,
        status, end_reason, null::integer, talk_when_answered(status, call_s), null::integer, extension, campaign,
        recording_url,
        _extracted_at, _interval_start, false
    from enigma_classified
),

voicenter_raw as (
    select
        ivruniqueid, nullif(trim("OriginalIvrUniqueID"), '') as original_id, "type" as call_type, status,
        "leg1DialStatusName" as leg1_status,
        nullif(trim(caller), '') as caller, nullif(trim(target), '') as target, nullif(trim(did), '') as did,
        nullif(trim(targetextension), '') as target_ext, nullif(trim(callerextension), '') as caller_ext,
        nullif(nullif(trim(queueid), ''), '0') as queue_id, nullif(record, '') as recording_url,
        nullif(trim(representative_code), '') as representative_code,
        coalesce(bounded_instant(time_utc),
            case when coalesce(_origin, 'webhook') = 'call_log' or _time_basis = 'utc' then bounded_epoch("time")
                 else timezone(coalesce(_timezone, 'Asia/Jerusalem'), bounded_epoch("time") at time zone 'UTC') end)
            as ts,
        bounded_seconds(duration) as duration_s, bounded_seconds(dialtime) as dial_s,
        bounded_seconds(seconds_waiting_in_queue) as wait_s, coalesce(upper(_default_region), 'IL') as region,
        received_at, _interval_start, _extracted_at
    from read_parquet('{lake}/voicenter/**/*.parquet', union_by_name = true, hive_partitioning = false)
),

voicenter_classified as (
    select v.*,
        wait_s is not null as queue_leg,
        case when wait_s is not null then greatest(duration_s - wait_s, 0) else duration_s end as connected_s,
        coalesce(t.direction, party_direction(caller_ext is not null, target_ext is not null or did is not null),
                 'unknown') as dir,
        s.status as word_status, l1.status as leg1_word_status
    from voicenter_raw v
    left join voicenter_call_types t on vocab_key(v.call_type) = vocab_key(t.type_key)
    left join voicenter_statuses s on vocab_key(v.status) = vocab_key(s.source_status)
    left join voicenter_statuses l1 on vocab_key(v.leg1_status) = vocab_key(l1.source_status)
),

voicenter_decided as (
    select *,
        case when word_status = 'answered' and queue_leg and connected_s = 0 then 'abandoned'
             else coalesce(word_status, leg1_word_status, case when coalesce(connected_s, 0) > 0 then 'answered' end,
                           'other') end as status_
    from voicenter_classified
),

voicenter as (
    select
        'voicenter', ivruniqueid, coalesce(original_id, ivruniqueid), coalesce(ts, received_at, _interval_start),
        coalesce(ts, received_at, _interval_start)
            + to_seconds(coalesce(case when not queue_leg then dial_s end, 0) + coalesce(duration_s, 0)), dir,
        caller, case when dir = 'inbound' then coalesce(did, target) else target end, region,
        status_, status, dial_s, talk_when_answered(status_, connected_s), wait_s,
        coalesce(representative_code, case when dir = 'inbound' then target_ext else caller_ext end),
        queue_id, recording_url, _extracted_at, received_at,
        -- Voicenter re-sends until acknowledged: the copy received first counts
        true
    from voicenter_decided
),

legs as (
    select * from kazoo union all select * from pbx union all select * from enigma union all select * from voicenter
),

latest as (
    select * from legs
    qualify row_number() over (
        partition by source, source_cdr_id
        order by case when first_read_wins then -epoch_us(coalesce(read_order, extracted_at))
                      else epoch_us(extracted_at) end desc,
                 read_order desc nulls last) = 1
),

call_directions as (
    select call_key, min(direction) as direction from latest where direction != 'unknown'
    group by call_key having count(distinct direction) = 1
),

agreed as (
    select l.* replace (coalesce(d.direction, l.direction) as direction)
    from latest l left join call_directions d on l.direction = 'unknown' and l.call_key = d.call_key
),

numbers as materialized (
    select number, region, cdr_e164(number, region) as e164, cdr_country(number, region) as country,
        cdr_is_number(number, region) as is_number
    from (select distinct number, region from (
        select caller_raw as number, region from agreed union all select callee_raw, region from agreed)
        where number is not null)
),

remote as (
    select l.*, caller.e164 as caller_number, callee.e164 as callee_number,
        case l.direction when 'inbound' then coalesce(caller.is_number, false)
                         when 'outbound' then coalesce(callee.is_number, false) end as remote_is_number,
        case l.direction when 'inbound' then caller.e164 when 'outbound' then callee.e164 end as remote_e164,
        case l.direction when 'inbound' then caller.country when 'outbound' then callee.country end as remote_country
    from agreed l
    left join numbers caller on l.caller_raw = caller.number and l.region = caller.region
    left join numbers callee on l.callee_raw = callee.number and l.region = callee.region
)

select
    md5(l.source || ':' || l.source_cdr_id) as cdr_key, l.source, l.source_cdr_id, l.call_key, l.started_at,
    l.ended_at, cast(l.started_at at time zone 'UTC' as date) as date_key, l.direction,
    l.caller_number, l.callee_number,
    case when remote_is_number then remote_e164 end as remote_number,
    case when remote_is_number and remote_country in (select country_code from countries) then remote_country
    end as remote_country_code,
    l.status, l.source_status, l.ring_seconds::integer as ring_seconds, l.talk_seconds::integer as talk_seconds,
    l.queue_wait_seconds::integer as queue_wait_seconds,
    case when l.agent_id is not null then md5(l.source || ':' || l.agent_id) end as agent_key,
    case when l.queue_id is not null then md5(l.source || ':' || l.queue_id) end as queue_key,
    l.recording_url, l.extracted_at
from remote l;
