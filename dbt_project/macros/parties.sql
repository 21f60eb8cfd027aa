{#- Who is on our side of a leg, and the vocabulary keys every mapping matches on. -#}

{#- A source's word as a lookup key: upper case, letters and digits only, so `no answer`, `No-Answer` and
    `NOANSWER` are one word. Null when nothing is left. -#}
{% macro vocab_key(expr) -%}
    nullif(upper(regexp_replace(coalesce({{ expr }}, ''), '[^A-Za-z0-9]', '', 'g')), '')
{%- endmacro %}

{#- A number's digits without leading zeros: the trunk prefix 0 and the international 00 go, so that the same
    number written nationally (08005550100), internationally (+18005550100, 0018005550100) or with separators
    ends in the same digits. -#}
{% macro number_digits(expr) -%}
    ltrim(regexp_replace(coalesce({{ expr }}, ''), '[^0-9]', '', 'g'), '0')
{%- endmacro %}

{#- Whether a number is one of `source`'s own numbers (int_own_numbers): the digits of one end with the digits of
    the other, seven digits at least, so a DID matches whether it was sent nationally or internationally. -#}
{#- The own numbers are looked up in one map (last seven digits to the numbers ending so), built once by an
    uncorrelated subquery: a correlated `exists` becomes a join DuckDB cannot push a filter through, so an
    incremental build's filter on the newest reads would no longer reach the lake's scan and every leg ever
    pulled would be read (measured: 3.1M KAZOO rows read for 100,000 new legs at 10M). -#}
{% macro is_own_number(expr, source) -%}
    (length({{ number_digits(expr) }}) >= 7 and coalesce(list_bool_or(list_transform(
        coalesce(map_extract_value(
            (select map_from_entries(list({'key': number_key, 'value': numbers}))
             from (
                 select number_key, list(number_digits) as numbers
                 from {{ ref('int_own_numbers') }}
                 where owner_source = '{{ source }}'
                 group by number_key
             ) as own),
            right({{ number_digits(expr) }}, 7)
        ), []),
        lambda own_digits: ends_with({{ number_digits(expr) }}, own_digits) or ends_with(own_digits, {{ number_digits(expr) }})
    )), false))
{%- endmacro %}

{#- An extension of the call centre: 2 to 6 digits. -#}
{% macro is_extension(expr) -%}
    coalesce(regexp_full_match(trim({{ expr }}), '[0-9]{2,6}'), false)
{%- endmacro %}

{#- A withheld caller: the words switches write instead of a number. The party is outside. -#}
{% macro is_withheld(expr) -%}
    coalesce({{ vocab_key(expr) }} in ('ANONYMOUS', 'UNKNOWN', 'PRIVATE', 'RESTRICTED', 'UNAVAILABLE',
        'WITHHELD', 'NONE', 'NULL'), false)
{%- endmacro %}

{#- A service of the switch rather than a phone: a feature code (`*97`) or a service's name (`voicemail`,
    `vmbox`, `conference`, `park`, `queue`, `ivr`). The party is ours. -#}
{% macro is_service(expr) -%}
    (coalesce(regexp_full_match(trim({{ expr }}), '\*[0-9*#]+'), false)
     or coalesce(regexp_matches({{ expr }}, '(?i)voice ?mail|vmbox|^\s*vm[-_ ]?[0-9]*\s*$|conferenc|^\s*conf\b|park|queue|\bivr\b|\bmenu\b'), false))
{%- endmacro %}

{#- The business direction from the two parties: both ours is internal, only the caller ours is outbound, only the
    callee ours is inbound; null when neither side is known to be ours (the source's own word decides then). -#}
{% macro party_direction(caller_ours, callee_ours) -%}
    (case
        when ({{ caller_ours }}) and ({{ callee_ours }}) then 'internal'
        when ({{ caller_ours }}) then 'outbound'
        when ({{ callee_ours }}) then 'inbound'
    end)
{%- endmacro %}

{#- A SIP final response's status (seed sip_responses: the code itself, else its class `4xx`). Joins two aliases
    of the seed, named `<prefix>_code` and `<prefix>_class`. -#}
{% macro sip_status_join(code_expr, prefix='sip') -%}
    left join {{ ref('sip_responses') }} as {{ prefix }}_code
        on {{ prefix }}_code.sip_code = cast({{ code_expr }} as varchar)
    left join {{ ref('sip_responses') }} as {{ prefix }}_class
        on {{ prefix }}_class.sip_code = cast(({{ code_expr }}) // 100 as varchar) || 'xx'
            and ({{ code_expr }}) between 100 and 699
{%- endmacro %}

{#- The user part of a SIP address KAZOO builds (`user@realm`, a `sip:` prefix allowed), else the text itself. -#}
{% macro sip_user(expr) -%}
    nullif(trim(split_part(regexp_replace(coalesce({{ expr }}, ''), '^\s*sips?:', ''), '@', 1)), '')
{%- endmacro %}

{#- A number written as a placeholder: one digit repeated (`0000000000`, as KAZOO's examples write a device's
    caller id). libphonenumber calls `0000000000` a possible US number; it is nobody. -#}
{% macro is_placeholder_number(expr) -%}
    (regexp_full_match(regexp_replace(coalesce({{ expr }}, ''), '[\s().+-]', '', 'g'), '[0-9]+')
     and length(replace(regexp_replace({{ expr }}, '[^0-9]', '', 'g'),
                        left(regexp_replace({{ expr }}, '[^0-9]', '', 'g'), 1), '')) = 0)
{%- endmacro %}

{#- Shaped like a phone number of the outside world: 7 to 15 digits (E.164's most), separators and a leading `+`
    allowed, not a placeholder. Whether it is ours (an own number) is decided apart. -#}
{% macro is_phone_shaped(expr) -%}
    (coalesce(regexp_full_match(regexp_replace(trim({{ expr }}), '[\s().-]', '', 'g'), '\+?[0-9]{7,15}'), false)
     and not {{ is_placeholder_number(expr) }})
{%- endmacro %}

{#- A SIP user name rather than a number: letters in it (`test_user`, `device_ZYcHDwktNB`, `1003-b`), not a word a
    switch writes for a withheld caller. Outside parties reach a switch through carriers, as numbers; a name is one
    of the account's users or devices. -#}
{% macro is_sip_name(expr) -%}
    (coalesce(regexp_matches(trim({{ expr }}), '[A-Za-z_]'), false) and not {{ is_withheld(expr) }})
{%- endmacro %}
