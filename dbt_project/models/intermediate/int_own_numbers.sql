-- Each source's own numbers as digits (macro number_digits), keyed by their last seven for the join in
-- is_own_number: the side of a leg that calls from or to one of them is ours.
with

numbers as (

    select * from {{ ref('stg_own_numbers__numbers') }}

),

digits as (

    select distinct
        owner_source,
        {{ number_digits('"number"') }} as number_digits
    from numbers

),

final as (

    select
        owner_source,
        number_digits,
        right(number_digits, 7) as number_key
    from digits
    where length(number_digits) >= 7

)

select * from final
