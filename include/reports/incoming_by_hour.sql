-- Incoming calls per local hour of $day (marts.fct_call.local_hour, the call centre's clock; offered and
-- answered): each source, and all sources ('all'); all 24 hours, zeros included, so the chart and the peak hours
-- read straight from it.
with calls as (
    select source, local_hour as hour, outcome
    from marts.fct_call
    where local_date = $day and direction = 'inbound'
),
grid as (select * from source_hours($sources))
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    g.hour,
    count(c.outcome) as incoming_calls,
    count(c.outcome) filter (where c.outcome = 'answered') as answered
from grid g
left join calls c on c.source = g.source and c.hour = g.hour
group by grouping sets ((g.source, g.hour), (g.hour))
order by grouping(g.source) desc, list_position($sources, g.source), g.hour
