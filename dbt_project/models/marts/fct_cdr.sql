{{
    config(
        materialized='incremental',
        unique_key='cdr_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

legs as (

    select * from {{ ref('int_cdr__legs') }}
    {{ lake_watermark_filter() }}

),

countries as (

    select * from {{ ref('dim_country') }}

),

-- A CDR re-read, re-drained or re-sent counts once. In an incremental build every read newer than what the
-- warehouse holds is here, so the latest read still wins, and replaces the warehouse's row by its key.
latest_reads as (

    select * from legs
    {{ keep_latest_read('source, source_cdr_id') }}

),

-- Legs of one call agree: a leg its source could not decide (direction `unknown`) takes the one direction the
-- call's decided legs have, in this build or held already (a KAZOO B-leg whose caller id is a placeholder, say,
-- beside its A-leg between two extensions).
call_directions as (

    select
        call_key,
        min(direction) as direction
    from (
        select
            call_key,
            direction
        from latest_reads
        where direction != 'unknown'
        {%- if is_incremental() %}
        union all
        select
            held.call_key,
            held.direction
        from {{ this }} as held
        inner join (
            select distinct call_key from latest_reads where direction = 'unknown'
        ) as undecided on held.call_key = undecided.call_key
        where held.direction != 'unknown'
        {%- endif %}
    ) as decided_legs
    group by call_key
    having count(distinct direction) = 1

),

agreed as (

    select
        latest_reads.* replace (
            coalesce(call_directions.direction, latest_reads.direction) as direction,
            case when call_directions.direction is not null then 'call_legs' else latest_reads.direction_basis end
                as direction_basis,
            case
                when call_directions.direction is not null
                    then list_filter(
                        latest_reads.unmapped_values, lambda item: item.affects != 'direction'  -- noqa: RF01
                    )
                else latest_reads.unmapped_values
            end as unmapped_values
        )
    from latest_reads
    left join call_directions
        on latest_reads.direction = 'unknown' and latest_reads.call_key = call_directions.call_key

),

-- Numbers repeat across legs: each distinct number of the build is parsed once (cdr_e164, cdr_country:
-- libphonenumber, registered by cdr.warehouse.dbt_plugin), whatever the number of legs. Materialized, because it is
-- joined twice and DuckDB would otherwise run the Python functions once per join (measured: 2x the build).
-- Read from latest_reads, not agreed (the numbers and regions are the same): agreed then has one reader, and
-- DuckDB does not materialize its 10M wide rows (measured: 5% of the model at 10M legs).
numbers as (

    select distinct
        number,
        phone_region
    from (
        select
            caller_number_as_sent as number,
            phone_region
        from latest_reads
        union all
        select
            callee_number_as_sent as number,
            phone_region
        from latest_reads
    ) as sent_numbers
    where number is not null

),

parsed_numbers as materialized (

    select
        number,
        phone_region,
        cdr_e164(number, phone_region) as e164,
        cdr_country(number, phone_region) as country_code,
        -- a number libphonenumber finds possible for the region, not a word, an extension or a placeholder
        cdr_is_number(number, phone_region) as is_number
    from numbers

),

conformed as (

    select
        agreed.*,
        caller.e164 as caller_number,
        callee.e164 as callee_number,
        -- the party outside the call centre: the caller of an inbound call, the callee of an outbound one
        case agreed.direction
            when 'inbound' then caller.country_code
            when 'outbound' then callee.country_code
        end as remote_country_code_parsed,
        case agreed.direction
            when 'inbound' then coalesce(caller.is_number, false)
            when 'outbound' then coalesce(callee.is_number, false)
        end as remote_is_number,
        -- a source may know the other side of a leg is its own (an extension where a number would be)
        coalesce(agreed.remote_is_ours, false) as remote_known_ours,
        case agreed.direction
            when 'inbound' then 'caller_number'
            when 'outbound' then 'callee_number'
        end as remote_side
    from agreed
    left join parsed_numbers as caller
        on agreed.caller_number_as_sent = caller.number and agreed.phone_region = caller.phone_region
    left join parsed_numbers as callee
        on agreed.callee_number_as_sent = callee.number and agreed.phone_region = callee.phone_region

),

with_remote as (

    select
        *,
        -- libphonenumber knows a few territories ISO 3166 does not (XK, AC, TA): no country rather than a
        -- key that does not resolve; a remote side that is not a number has none
        case
            when remote_is_number and remote_country_code_parsed in (select country_code from countries)
                then remote_country_code_parsed
        end as remote_country_code,
        case remote_side when 'caller_number' then caller_number_as_sent when 'callee_number' then callee_number_as_sent
        end as remote_number_as_sent,
        -- only a number (libphonenumber: possible in the source's region, not a placeholder); anything else the
        -- remote side sent (`anonymous`, `SIPSIP`, `0000000000`) is in remote_party, as sent
        case
            when remote_is_number
                then
                    case remote_side when 'caller_number' then caller_number when 'callee_number' then callee_number end
        end as remote_number
    from conformed

),

{%- if is_incremental() %}

-- A source whose first read wins: a later read of a leg the warehouse holds changes nothing. Joined from the
-- few re-read keys, so that the hash table holds those, not every key of the warehouse.
already_held as (

    select held.cdr_key
    from {{ this }} as held
    inner join (
        select distinct md5(source || ':' || source_cdr_id) as cdr_key
        from with_remote
        where coalesce(first_read_wins, false)
    ) as reread on held.cdr_key = reread.cdr_key

),
{%- endif %}

final as (

    select
        md5(source || ':' || source_cdr_id) as cdr_key,
        source,
        source_cdr_id,
        call_key,
        started_at,
        ended_at,
        -- true where the source sent no time and started_at is the best known one (an Enigma c2d leg's drain)
        coalesce(started_at_estimated, false) as started_at_estimated,
        cast(started_at at time zone 'UTC' as date) as date_key,
        hour(started_at at time zone 'UTC') as started_hour_utc,
        -- the call centre's clock (macros/local_time.sql): CDR_SITE_TIMEZONE, or the source's override
        {{ local_time_columns('started_at') }},
        direction,
        caller_number,
        callee_number,
        remote_number,
        case when not remote_is_number and not remote_known_ours then remote_number_as_sent end as remote_party,
        remote_country_code,
        direction_basis,
        source_direction,
        status,
        status_basis,
        source_status,
        hangup_cause,
        cast(sip_code as integer) as sip_code,
        dial_status,
        cast(ring_seconds as integer) as ring_seconds,
        cast(talk_seconds as integer) as talk_seconds,
        cast(queue_wait_seconds as integer) as queue_wait_seconds,
        case when agent_id is not null then md5(source || ':' || agent_id) end as agent_key,
        agent_id,
        agent_name,
        case when queue_id is not null then md5(source || ':' || queue_id) end as queue_key,
        queue_id,
        queue_name,
        call_leg,
        -- the trunk or route a source names (the PBX's trunk peer), else null
        route,
        ivr_path,
        recording_url,
        price_minor_units,
        price_currency,
        caller_number_as_sent,
        callee_number_as_sent,
        -- the raw values on this leg the model could not map (marts.dq_unmapped counts them): the sources'
        -- words, and an outside party's number that does not parse
        list_concat(
            unmapped_values,
            case
                -- a remote side that is not a number (a withheld caller's word is not a fault)
                when
                    remote_number_as_sent is not null and not remote_is_number and not remote_known_ours
                    and not {{ is_withheld('remote_number_as_sent') }}
                    then [{ 'field': remote_side, 'affects': 'remote_number', 'value': remote_number_as_sent }]
                when remote_is_number and remote_country_code is null
                    then [{ 'field': remote_side, 'affects': 'remote_country', 'value': remote_number_as_sent }]
                else []
            end
        ) as unmapped_values,
        extracted_at
    from with_remote
    {%- if is_incremental() %}
    where not (coalesce(first_read_wins, false)
               and md5(source || ':' || source_cdr_id) in (select cdr_key from already_held))
    {%- endif %}

)

select * from final
