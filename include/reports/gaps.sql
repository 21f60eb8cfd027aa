-- Data health: gaps. A local hour of $day in which a source sent no CDRs although it sent some in that same hour
-- on at least 2 of the 4 same weekdays before ($day - 7, - 14, - 21, - 28): a hole where the source usually
-- has traffic, without flagging nights, weekends or a source's first weeks. An hour the clocks skipped that day
-- (daylight saving) is no gap.
with usual as (
    select source, local_hour as hour, count(distinct local_date) as usual_weeks,
           any_value(local_timezone) as local_timezone
    from marts.fct_cdr
    where local_date in ($day - 7, $day - 14, $day - 21, $day - 28)
    group by source, local_hour
),
today as (
    select distinct source, local_hour as hour
    from marts.fct_cdr
    where local_date = $day
)
select u.source, u.hour::integer as hour, u.usual_weeks
from usual u
where u.usual_weeks >= 2
  and u.hour in (select hour from local_hours(u.local_timezone, $day_start, $day_end))
  and not exists (select 1 from today t where t.source = u.source and t.hour = u.hour)
order by list_position($sources, u.source), u.hour
