-- Carrier KPIs of $day, as marts.agg_route_daily defines them (read from marts.fct_call, as the other figures,
-- so that the report's ratios are recomputed from the calls at every level, never averaged): seizures, ASR, NER,
-- ACD and ring time per source, route ('' where the source names none), direction and destination country
-- ('' unknown); then each source and route over all countries (country_code 'all'), each source (route 'all')
-- and all sources (source 'all'), per direction.
with seizures as (
    select source, coalesce(route, '') as route, direction, coalesce(remote_country_code, '') as country_code,
           outcome, talk_seconds, ring_seconds,
           outcome in ('answered', 'busy', 'no_answer', 'voicemail', 'abandoned')
               or (outcome = 'failed' and was_declined) as network_effective
    from marts.fct_call
    where local_date = $day and direction in ('inbound', 'outbound')
)
select
    case when grouping(source) = 1 then 'all' else source end as source,
    case when grouping(route) = 1 then 'all' else route end as route,
    direction,
    case when grouping(country_code) = 1 then 'all' else country_code end as country_code,
    count(*) as seizures,
    count(*) filter (where outcome = 'answered') as answered,
    count(*) filter (where network_effective) as network_effective,
    round(100.0 * count(*) filter (where outcome = 'answered') / count(*), 1) as asr_pct,
    round(100.0 * count(*) filter (where network_effective) / count(*), 1) as ner_pct,
    round(coalesce(sum(talk_seconds) filter (where outcome = 'answered'), 0)
          / nullif(count(*) filter (where outcome = 'answered'), 0), 1) as acd_seconds,
    round(avg(ring_seconds), 1) as avg_ring_seconds
from seizures
group by grouping sets ((source, route, direction, country_code), (source, route, direction), (source, direction),
    (direction))
order by grouping(source) desc, list_position($sources, source), grouping(route) desc, route,
    list_position(['inbound', 'outbound'], direction), grouping(country_code) desc, count(*) desc, country_code
