-- Data health: CDRs (legs, marts.fct_cdr) that started in each local hour of $day (local_hour), per source and
-- all sources ('all'), all 24 hours with zeros, so an hour a source fell silent shows as a hole.
with legs as (
    select source, local_hour as hour
    from marts.fct_cdr
    where local_date = $day
),
grid as (select * from source_hours($sources))
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    g.hour,
    count(l.source) as cdrs
from grid g
left join legs l on l.source = g.source and l.hour = g.hour
group by grouping sets ((g.source, g.hour), (g.hour))
order by grouping(g.source) desc, list_position($sources, g.source), g.hour
