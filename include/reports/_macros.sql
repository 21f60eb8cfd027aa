-- What the report's queries share, created as temporary macros on the report's read-only connection (temporary
-- objects live outside the warehouse file, so nothing is written to it).

-- Every source of `sources` against every hour of the clock (0-23, the marts' local_hour): the rows a per-hour
-- figure fills, zeros included. On the day the clocks go forward one of them has no time in it (see local_hours);
-- on the day they go back one holds two hours.
create or replace temp macro source_hours(sources) as table
    select s.source, h.hour::integer as hour
    from unnest(sources) as s(source)
    cross join range(24) as h(hour);

-- The hours of the clock that exist on the local day [day_start, day_end) in zone `tz`: 23 on the day the
-- clocks go forward, so that the hour skipped is never a gap.
create or replace temp macro local_hours(tz, day_start, day_end) as table
    select distinct hour(timezone(tz, t.instant))::integer as hour
    from (select unnest(generate_series(day_start, day_end - interval 1 hour, interval 1 hour)) as instant) as t;
