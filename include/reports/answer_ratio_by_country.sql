-- Outgoing calls and their answer ratio by the called party's country: each source, and all sources ('all').
-- Calls whose number has no known country are counted under country_code '' ("Unknown").
with calls as (
    select source, coalesce(remote_country_code, '') as country_code, outcome
    from marts.fct_call
    where local_date = $day and direction = 'outbound'
),
counted as (
    select
        case when grouping(c.source) = 1 then 'all' else c.source end as source,
        c.country_code,
        count(*) as calls,
        count(*) filter (where c.outcome = 'answered') as answered,
        round(100.0 * count(*) filter (where c.outcome = 'answered') / count(*), 1) as answer_ratio_pct
    from calls c
    group by grouping sets ((c.source, c.country_code), (c.country_code))
)
select k.source, k.country_code, coalesce(co.country_name, 'Unknown') as country_name,
       k.calls, k.answered, k.answer_ratio_pct
from counted k
left join marts.dim_country co on co.country_code = k.country_code
order by
    max(k.calls) filter (where k.source = 'all') over (partition by k.country_code) desc,
    country_name, k.source <> 'all', list_position($sources, k.source)
