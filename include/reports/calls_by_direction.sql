-- Calls offered, answered and abandoned by direction: each source, and all sources together ('all').
-- One row per call (marts.fct_call) that started on $day (local_date, the call centre's day). Every source gets an incoming and an outgoing
-- row even on a day it sent nothing, so a silent source shows as zeros instead of disappearing.
with calls as (
    select source, direction, outcome
    from marts.fct_call
    where local_date = $day
),
grid as (
    select s.source, d.direction
    from unnest($sources) as s(source)
    cross join (values ('inbound'), ('outbound')) as d(direction)
    union
    select distinct source, direction from calls
)
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    case when grouping(g.direction) = 1 then 'all' else g.direction end as direction,
    count(c.outcome) as offered,
    count(c.outcome) filter (where c.outcome = 'answered') as answered,
    count(c.outcome) filter (where c.outcome = 'abandoned') as abandoned,
    round(100.0 * count(c.outcome) filter (where c.outcome = 'answered') / nullif(count(c.outcome), 0), 1)
        as answer_ratio_pct
from grid g
left join calls c on c.source = g.source and c.direction = g.direction
group by grouping sets ((g.source, g.direction), (g.source), (g.direction), ())
order by
    grouping(g.source) desc, list_position($sources, g.source),
    grouping(g.direction) desc,
    list_position(['inbound', 'outbound', 'internal', 'unknown'], g.direction)
