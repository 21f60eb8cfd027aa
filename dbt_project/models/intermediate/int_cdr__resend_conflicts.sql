-- Every pushed source's CDRs received again with different content (one branch per source that is pushed to us).
with

voicenter as (

    select * from {{ ref('int_voicenter__resend_conflicts') }}

),

unioned as (

    select * from voicenter

)

select * from unioned
