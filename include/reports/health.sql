-- Data health per source: CDRs that started on $day, the hours that had any, the day's first and last CDR, and
-- the newest CDR the warehouse holds from before the day ended (on a silent source, days old or none at all).
select
    s.source,
    count(f.cdr_key) filter (where f.local_date = $day) as cdrs,
    count(distinct f.local_hour) filter (where f.local_date = $day) as active_hours,
    min(f.started_at) filter (where f.local_date = $day) at time zone 'UTC' as first_cdr_at_utc,
    max(f.started_at) filter (where f.started_at < $day_end) at time zone 'UTC' as newest_cdr_at_utc
from unnest($sources) as s(source)
left join marts.fct_cdr f on f.source = s.source
group by s.source
order by list_position($sources, s.source)
