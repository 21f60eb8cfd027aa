-- Data health: gaps. An hour of $day in which a source sent no CDRs although it sent some in that same UTC hour
-- on at least 2 of the 4 same weekdays before ($day - 7, - 14, - 21, - 28): a hole where the source usually
-- has traffic, without flagging nights, weekends or a source's first weeks.
with usual as (
    select source, hour(started_at at time zone 'UTC') as hour_utc, count(distinct date_key) as usual_weeks
    from marts.fct_cdr
    where date_key in ($day - 7, $day - 14, $day - 21, $day - 28)
    group by all
),
today as (
    select distinct source, hour(started_at at time zone 'UTC') as hour_utc
    from marts.fct_cdr
    where date_key = $day
)
select u.source, u.hour_utc::integer as hour_utc, u.usual_weeks
from usual u
where u.usual_weeks >= 2
  and not exists (select 1 from today t where t.source = u.source and t.hour_utc = u.hour_utc)
order by list_position($sources, u.source), u.hour_utc
