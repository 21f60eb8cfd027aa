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

addressed as (

    select
        *,
        {{ sip_user('from_uri') }} as from_user,
        -- what the leg asked for: the dialled digits, else the user part of the request or To address
        coalesce(dialed_number, {{ sip_user('request_uri') }}, {{ sip_user('to_uri') }}) as dialled,
        {{ sip_user('request_uri') }} as request_user,
        {{ sip_user('to_uri') }} as to_user
    from cdrs

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
        {{ is_own_number('callee_id_number', 'kazoo') }} as callee_is_own_number,
        {{ is_own_number('dialled', 'kazoo') }} as dialled_is_own_number,
        -- the leg's SIP addresses: a user name or an extension is one of the account's users or devices
        {{ is_sip_name('from_user') }} or {{ is_extension('from_user') }} or {{ is_extension('calling_from') }}
            as placed_by_account_address
    from addressed

),

sided as (

    select
        *,
        {{ is_sip_name('dialled') }} or {{ is_extension('dialled') }} or {{ is_service('dialled') }}
        or dialled_is_own_number as dialled_is_ours,
        {{ is_phone_shaped('dialled') }} and not dialled_is_own_number as dialled_is_outside,
        ({{ is_phone_shaped('caller_id_number') }} and not caller_is_own_number)
        or {{ is_withheld('caller_id_number') }} as caller_is_outside,
        {{ is_phone_shaped('callee_id_number') }} and not callee_is_own_number as callee_is_outside
    from keyed

),

-- Ours: an extension, a service of the switch (voicemail, conference, feature codes) or one of the account's
-- own numbers, by the caller and callee ids; and by the addresses KAZOO builds (`from`, `calling_from`,
-- `request`/`to`/`dialed_number`), a user or device name of the account. owner_id and authorizing_id say that one
-- of the account's users or devices placed the leg, not which side of it is ours: KAZOO copies the calling side's
-- channel variables onto the bridged leg.
parties as (

    select
        sided.*,
        caller_is_extension or caller_is_service or caller_is_own_number or placed_by_account_address
            as caller_is_ours,
        callee_is_extension or callee_is_service or callee_is_own_number or dialled_is_ours as callee_is_ours,
        owner_id is not null or authorizing_id is not null as placed_by_account,
        regexp_matches(
            coalesce(callee_id_number, '') || ' ' || coalesce(callee_id_name, ''),
            '(?i)voice ?mail|^\s*vm|^\*9[78]'
        ) as callee_is_voicemail
    from sided

),

classified as (

    select
        parties.*,
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

-- The rule table of this model's description, in its order. KAZOO's own `direction` is relative to the switch
-- (into it is `inbound`, the A-leg of an agent's outbound call included): it decides only together with the
-- party it points at being an outside number.
directed as (

    select
        *,
        case
            when caller_is_ours and callee_is_ours then 'internal'
            when caller_is_ours and (callee_is_outside or dialled_is_outside) then 'outbound'
            when callee_is_ours and caller_is_outside then 'inbound'
            -- one of the account's devices dialled out, and its caller id shows the dialled number (KAZOO's
            -- channel examples) or nothing that is a number
            when
                placed_by_account and dialled_is_outside and not callee_is_ours
                and (
                    caller_id_number is null or caller_id_number = dialled or caller_id_number = callee_id_number
                    or not {{ is_phone_shaped('caller_id_number') }}
                )
                then 'outbound'
            when switch_word_direction = 'outbound' and (callee_is_outside or dialled_is_outside) then 'outbound'
            when switch_word_direction = 'inbound' and caller_is_outside then 'inbound'
        end as decided_direction,
        case
            when caller_is_ours and callee_is_ours then 'parties'
            when caller_is_ours and (callee_is_outside or dialled_is_outside) then 'parties'
            when callee_is_ours and caller_is_outside then 'parties'
            when
                placed_by_account and dialled_is_outside and not callee_is_ours
                and (
                    caller_id_number is null or caller_id_number = dialled or caller_id_number = callee_id_number
                    or not {{ is_phone_shaped('caller_id_number') }}
                )
                then 'placed_by_account'
            when
                switch_word_direction = 'outbound' and (callee_is_outside or dialled_is_outside)
                then 'switch_direction'
            when switch_word_direction = 'inbound' and caller_is_outside then 'switch_direction'
        end as decided_basis
    from classified

),

decided as (

    select
        *,
        -- undecided here: marts.fct_cdr lets the call's other legs decide (legs of one call agree), else unknown
        coalesce(decided_direction, 'unknown') as direction,
        coalesce(decided_basis, 'unmapped') as direction_basis,
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
        end as status_basis,
        coalesce(started_at_gregorian, started_at_unix, started_at_datetime, started_at_rfc_1036, started_at_iso_8601)
            as started_at
    from directed

),

final as (

    select
        'kazoo' as source,
        kazoo_cdr_id as source_cdr_id,
        coalesce(interaction_id, bridge_id, call_id) as call_key,
        -- no witness of the start the leg can have had (each counted as invalid): the start of the interval it
        -- was pulled for, flagged
        coalesce(started_at, lake_interval_start) as started_at,
        coalesce(started_at, lake_interval_start) + to_seconds(coalesce(duration_seconds, 0)) as ended_at,
        started_at is null as started_at_estimated,
        direction,
        direction_basis,
        switch_direction as source_direction,
        -- a leg the account dialled out whose caller id shows the dialled party: the calling device instead
        case
            when
                direction = 'outbound' and caller_id_number = dialled
                and not (caller_is_extension or caller_is_service or caller_is_own_number)
                then coalesce(calling_from, from_user, caller_id_number)
            else caller_id_number
        end as caller_number_as_sent,
        -- an outbound leg's remote party is the one it dialled, where the callee id is not an outside number
        case
            when direction = 'outbound' and not coalesce(callee_is_outside, false) and dialled_is_outside then dialled
            else callee_id_number
        end as callee_number_as_sent,
        -- numbers without a country code belong to the Connection's default_region, else the registry's
        coalesce(default_region, {{ source_default('kazoo', 'default_region') }}) as phone_region,
        status,
        status_basis,
        hangup_cause as source_status,
        greatest(coalesce(duration_seconds, 0) - coalesce(billing_seconds, 0), 0) as ring_seconds,
        {{ talk_when_answered('status', 'billing_seconds') }} as talk_seconds,
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
