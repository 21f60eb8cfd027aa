-- Data health: how late each source's legs that ended on $day reached the lake (marts.agg_ingest_lag).
select
    l.source,
    l.legs::integer as legs,
    l.p50_lag_seconds::double as p50_lag_seconds,
    l.p95_lag_seconds::double as p95_lag_seconds,
    l.max_lag_seconds::double as max_lag_seconds
from marts.agg_ingest_lag l
where l.date_key = $day
order by l.source
