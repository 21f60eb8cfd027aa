-- Per local day: how Voicenter's clock compares with the Call Log's true UTC (int_voicenter__time_offsets). With
-- the setting right, measured and applied offsets agree and no CDR contradicts it; a day where most do says the
-- account's `timezone` or `time_basis` (Connection voicenter_default) is wrong for that day's CDRs.
with

offsets as (

    select * from {{ ref('int_voicenter__time_offsets') }}

),

final as (

    select
        date_key,
        count(*) as cdrs_compared,
        cast(median(measured_offset_seconds) as bigint) as measured_offset_seconds,
        {{ offset_text('median(measured_offset_seconds)') }} as measured_offset,
        cast(median(applied_offset_seconds) as bigint) as applied_offset_seconds,
        {{ offset_text('median(applied_offset_seconds)') }} as applied_offset,
        count(*) filter (where contradicts_setting) as cdrs_contradicting,
        count(*) filter (where contradicts_setting) * 2 > count(*) as setting_contradicted
    from offsets
    group by date_key

)

select * from final
