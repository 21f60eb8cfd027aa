-- Every source whose clock a second witness checks, per local day: the legs whose time contradicts the source's
-- settings, for marts.dq_unmapped (one branch per source that has such a witness).
with

voicenter as (

    select
        'voicenter' as source,
        date_key,
        'started_at' as affects,
        'time' as field,
        'Call Log offset ' || {{ offset_text('measured_offset_seconds') }} as raw_value,
        'setting gives ' || {{ offset_text('applied_offset_seconds') }} as mapped_to,
        count(*) as legs
    from {{ ref('int_voicenter__time_offsets') }}
    where contradicts_setting
    group by all

),

unioned as (

    select * from voicenter

)

select * from unioned
