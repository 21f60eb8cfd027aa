-- How calls ended on $day, as each source says it (marts.fct_cdr.source_status, one row per leg) next to the
-- warehouse's own status, with each cause's share of its source's legs. Totals: per source (status 'all'), per
-- status across sources (source 'all'), and all legs (source, status and source_status 'all').
with legs as (
    select source, status, coalesce(source_status, '(none)') as source_status
    from marts.fct_cdr
    where local_date = $day
),
counted as (
    select source, status, source_status, count(*) as legs from legs group by all
    union all
    select source, 'all', 'all', count(*) from legs group by all
    union all
    select 'all', status, 'all', count(*) from legs group by all
    union all
    select 'all', 'all', 'all', count(*) from legs
)
select source, status, source_status, legs,
       round(100.0 * legs / nullif(max(legs) filter (where status = 'all') over (partition by source), 0), 1)
           as share_of_source_pct
from counted
where legs > 0 or source = 'all'
order by source = 'all' desc, list_position($sources, source), status = 'all' desc, legs desc, status, source_status
