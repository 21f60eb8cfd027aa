-- Voicenter CDRs received more than once with different content: the first copy counts (fct_cdr), the later ones
-- stay in the lake, and each is counted here (marts.dq_unmapped), so that a re-send cannot rewrite history unseen.
with

legs as (

    select * from {{ ref('int_voicenter__legs') }}

),

copies as (

    select
        source,
        source_cdr_id,
        cast(timezone({{ local_timezone("'voicenter'") }}, arg_min(started_at, read_order)) as date) as date_key,
        count(distinct content_md5) as versions
    from legs
    group by source, source_cdr_id

),

final as (

    select
        source,
        date_key,
        source_cdr_id,
        versions
    from copies
    where versions > 1

)

select * from final
