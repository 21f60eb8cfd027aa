-- Data health: CDRs (legs, marts.fct_cdr) that started in each UTC hour of $day, per source and all sources
-- ('all'), all 24 hours with zeros, so an hour a source fell silent shows as a hole.
with legs as (
    select source, hour(started_at at time zone 'UTC') as hour_utc
    from marts.fct_cdr
    where date_key = $day
),
grid as (select * from source_hours($sources))
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    g.hour_utc,
    count(l.source) as cdrs
from grid g
left join legs l on l.source = g.source and l.hour_utc = g.hour_utc
group by grouping sets ((g.source, g.hour_utc), (g.hour_utc))
order by grouping(g.source) desc, list_position($sources, g.source), g.hour_utc
