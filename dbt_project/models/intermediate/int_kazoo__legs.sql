with

cdrs as (

    select * from {{ ref('stg_kazoo__cdrs') }}

),

hangup_causes as (

    select * from {{ ref('hangup_causes') }}

),

direction_words as (

    select * from {{ ref('direction_words') }}

),

keyed as (

    select
        *,
        {{ vocab_key('hangup_cause') }} as hangup_cause_key,
        try_cast(regexp_extract(hangup_code, '([0-9]{3})', 1) as integer) as hangup_sip_code,
        {{ is_extension('caller_id_number') }} as caller_is_extension,
        {{ is_extension('callee_id_number') }} as callee_is_extension,
        {{ is_service('caller_id_number') }} as caller_is_service,
        {{ is_service('callee_id_number') }} as callee_is_service,
        {{ is_own_number('caller_id_number', 'kazoo') }} as caller_is_own_number,
        {{ is_own_number('callee_id_number', 'kazoo') }} as callee_is_own_number
    from cdrs

),

-- Ours: an extension, a service of the switch (voicemail, conference, feature codes) or one of the account's
-- own numbers. owner_id says whose leg it is, not which side is ours: KAZOO copies it onto the bridged leg.
parties as (

    select
        keyed.*,
        caller_is_extension or caller_is_service or caller_is_own_number as caller_is_ours,
        callee_is_extension or callee_is_service or callee_is_own_number as callee_is_ours,
        regexp_matches(
            coalesce(callee_id_number, '') || ' ' || coalesce(callee_id_name, ''),
            '(?i)voice ?mail|^\s*vm|^\*9[78]'
        ) as callee_is_voicemail
    from keyed

),

classified as (

    select
        parties.*,
        {{ party_direction('caller_is_ours', 'callee_is_ours') }} as party_direction,
        switch_words.direction as switch_word_direction,
        coalesce(causes_by_name.status, causes_by_number.status) as cause_status,
        coalesce(sip_code.status, sip_class.status) as sip_status
    from parties
    left join direction_words as switch_words on {{ vocab_key('parties.switch_direction') }} = switch_words.word
    left join hangup_causes as causes_by_name on parties.hangup_cause_key = {{ vocab_key('causes_by_name.cause') }}
    left join
        hangup_causes as causes_by_number
        on parties.hangup_cause_key = cast(causes_by_number.q850_code as varchar)
    {{ sip_status_join('parties.hangup_sip_code') }}

),

decided as (

    select
        *,
        -- A leg between two outside parties (a call forwarded to a mobile, a number we do not know is ours)
        -- takes the switch's direction: into the switch is inbound, out of it outbound.
        coalesce(party_direction, switch_word_direction, 'unknown') as direction,
        case
            when party_direction is not null then 'parties'
            when switch_word_direction is not null then 'switch_direction'
            else 'unmapped'
        end as direction_basis,
        case
            when coalesce(billing_seconds, 0) > 0 and callee_is_voicemail then 'voicemail'
            when coalesce(billing_seconds, 0) > 0 then 'answered'
            else coalesce(cause_status, sip_status, 'other')
        end as status,
        case
            when coalesce(billing_seconds, 0) > 0 then 'billing_seconds'
            when cause_status is not null then 'hangup_cause'
            when sip_status is not null then 'sip_code'
            else 'unmapped'
        end as status_basis
    from classified

),

final as (

    select
        'kazoo' as source,
        kazoo_cdr_id as source_cdr_id,
        coalesce(interaction_id, bridge_id, call_id) as call_key,
        -- a timestamp no call can have (counted as invalid): the start of the interval it was pulled for
        coalesce(started_at, lake_interval_start) as started_at,
        coalesce(started_at, lake_interval_start) + to_seconds(coalesce(duration_seconds, 0)) as ended_at,
        direction,
        direction_basis,
        switch_direction as source_direction,
        caller_id_number as caller_number_as_sent,
        callee_id_number as callee_number_as_sent,
        -- numbers without a country code belong to the Connection's default_region, else the registry's
        coalesce(default_region, {{ source_default('kazoo', 'default_region') }}) as phone_region,
        status,
        status_basis,
        hangup_cause as source_status,
        greatest(coalesce(duration_seconds, 0) - coalesce(billing_seconds, 0), 0) as ring_seconds,
        billing_seconds as talk_seconds,
        cast(null as integer) as queue_wait_seconds,
        owner_id as agent_id,
        -- The agent's name is the one on their phone's side: the callee of a leg the switch rang, the caller
        -- of a leg the phone started. A carrier leg names the company, not the agent.
        case
            when switch_word_direction = 'outbound' and callee_is_extension then callee_id_name
            when switch_word_direction = 'inbound' and caller_is_extension then caller_id_name
            when switch_word_direction is null and caller_is_extension then caller_id_name
            when switch_word_direction is null and callee_is_extension then callee_id_name
        end as agent_name,
        cast(null as varchar) as queue_id,
        cast(null as varchar) as queue_name,
        hangup_cause,
        hangup_sip_code as sip_code,
        recording_url,
        list_concat(invalid_values, list_filter([
            { 'field': 'hangup_cause', 'affects': 'status', 'value': case
                when status_basis = 'unmapped' or (hangup_cause_key is not null and cause_status is null)
                    then coalesce(hangup_cause, '(missing)')
            end },
            { 'field': 'direction', 'affects': 'direction', 'value': case
                when direction_basis = 'unmapped' then coalesce(switch_direction, '(missing)')
            end }
        ], lambda item: item.value is not null)) as unmapped_values,
        extracted_at,
        lake_interval_start as read_order
    from decided

)

select * from final
