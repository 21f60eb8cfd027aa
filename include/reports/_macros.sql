-- What the report's queries share, created as temporary macros on the report's read-only connection (temporary
-- objects live outside the warehouse file, so nothing is written to it).

-- Every source of `sources` against every UTC hour of a day: the rows a per-hour figure fills, zeros included.
create or replace temp macro source_hours(sources) as table
    select s.source, h.hour_utc::integer as hour_utc
    from unnest(sources) as s(source)
    cross join range(24) as h(hour_utc);
