-- Incoming calls per UTC hour of $day (offered and answered): each source, and all sources ('all'); all 24
-- hours, zeros included, so the chart and the peak hours read straight from it.
with calls as (
    select source, hour(started_at at time zone 'UTC') as hour_utc, outcome
    from marts.fct_call
    where date_key = $day and direction = 'inbound'
),
grid as (select * from source_hours($sources))
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    g.hour_utc,
    count(c.outcome) as incoming_calls,
    count(c.outcome) filter (where c.outcome = 'answered') as answered
from grid g
left join calls c on c.source = g.source and c.hour_utc = g.hour_utc
group by grouping sets ((g.source, g.hour_utc), (g.hour_utc))
order by grouping(g.source) desc, list_position($sources, g.source), g.hour_utc
