{{
    config(
        materialized='incremental',
        unique_key='source_cdr_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

-- Every Voicenter CDR with the contents it was received with so far, for int_voicenter__resend_conflicts.
-- Incremental: a build reads only the copies received since the last one and merges them with what earlier
-- builds held of the same CDRs, so that counting re-sends does not read the whole Voicenter lake on every build.
with

legs as (

    select * from {{ ref('int_voicenter__legs') }}
    {{ lake_watermark_filter() }}

),

copies as (

    select
        source,
        source_cdr_id,
        started_at,
        read_order,
        content_md5,
        extracted_at
    from legs

    {%- if is_incremental() %}

    union all

    -- what earlier builds saw of the CDRs received again: the first copy stands for all the copies before it
    select
        held.source,
        held.source_cdr_id,
        held.first_started_at as started_at,
        held.first_read_order as read_order,
        unnest(held.content_md5s) as content_md5,
        held.extracted_at
    from {{ this }} as held
    semi join legs using (source_cdr_id)
    {%- endif %}

),

final as (

    select
        source,
        source_cdr_id,
        -- the copy received first dates the CDR (as fct_cdr keeps it: first_read_wins)
        arg_min(started_at, read_order) as first_started_at,
        min(read_order) filter (where started_at is not null) as first_read_order,
        list_sort(list_distinct(list(content_md5))) as content_md5s,
        max(extracted_at) as extracted_at
    from copies
    group by source, source_cdr_id

)

select * from final
