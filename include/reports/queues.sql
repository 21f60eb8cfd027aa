-- Queues callers wait in (marts.dim_queue.queue_type = 'queue'; the dialer's campaigns are not): calls offered
-- on $day, answered, abandoned, short abandons (abandoned after waiting less than kpi_settings.short_abandon_seconds,
-- too soon to have been answered), service level (answered within service_level_seconds of waiting, over the
-- offered calls but the short abandons, or over the answered calls: kpi_settings.service_level_denominator),
-- average speed of answer (mean wait of the answered calls) and abandonment rate (abandoned but not short, over
-- offered but not short). A call whose source does not report its wait counts as having waited 0 s (and is never
-- a short abandon). Per-source totals (queue_id 'all') and all sources (source 'all') follow.
with settings as (select * from marts.kpi_settings),
calls as (
    select q.source, q.queue_id, q.queue_name, c.outcome, c.is_short_abandon,
           coalesce(c.queue_wait_seconds, 0) as wait_seconds
    from marts.fct_call c
    join marts.dim_queue q using (queue_key)
    where c.local_date = $day and q.queue_type = 'queue'
),
counted as (
    select
        case when grouping(source) = 1 then 'all' else source end as source,
        case when grouping(queue_id) = 1 then 'all' else queue_id end as queue_id,
        case when grouping(queue_name) = 1 then null else queue_name end as queue_name,
        count(*) as offered,
        count(*) filter (where outcome = 'answered') as answered,
        count(*) filter (where outcome = 'abandoned') as abandoned,
        count(*) filter (where is_short_abandon) as short_abandons,
        count(*) filter (
            where outcome = 'answered' and wait_seconds <= (select service_level_seconds from settings)
        ) as answered_in_time,
        round(avg(wait_seconds) filter (where outcome = 'answered'), 1) as avg_speed_of_answer_seconds
    from calls
    group by grouping sets ((source, queue_id, queue_name), (source), ())
    having count(*) > 0
)
select
    k.source, k.queue_id, k.queue_name, k.offered, k.answered, k.abandoned, k.short_abandons,
    round(100.0 * k.answered_in_time / nullif(
        case s.service_level_denominator when 'answered' then k.answered else k.offered - k.short_abandons end, 0
    ), 1) as service_level_pct,
    k.avg_speed_of_answer_seconds,
    round(100.0 * (k.abandoned - k.short_abandons) / nullif(k.offered - k.short_abandons, 0), 1)
        as abandonment_rate_pct
from counted k
cross join settings s
order by k.source <> 'all', list_position($sources, k.source), k.queue_id <> 'all', k.queue_name
