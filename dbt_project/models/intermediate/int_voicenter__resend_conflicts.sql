-- Voicenter CDRs received more than once with different content: the first copy counts (fct_cdr), the later ones
-- stay in the lake, and each is counted here (marts.dq_unmapped), so that a re-send cannot rewrite history unseen.
with

versions as (

    select * from {{ ref('int_voicenter__cdr_versions') }}

),

final as (

    select
        source,
        cast(timezone({{ local_timezone("'voicenter'") }}, first_started_at) as date) as date_key,
        source_cdr_id,
        len(content_md5s) as versions
    from versions
    where len(content_md5s) > 1

)

select * from final
