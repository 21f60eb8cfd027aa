-- Queues callers wait in (marts.dim_queue.queue_type = 'queue'; the dialer's campaigns are not): calls offered
-- on $day, answered, abandoned, service level (answered within 20 s of waiting, of all offered), average speed
-- of answer (mean wait of the answered calls) and abandonment rate. A call whose source does not report its
-- wait counts as having waited 0 s. Per-source totals (queue_id 'all') and all sources (source 'all') follow.
with calls as (
    select q.source, q.queue_id, q.queue_name, c.outcome, coalesce(c.queue_wait_seconds, 0) as wait_seconds
    from marts.fct_call c
    join marts.dim_queue q using (queue_key)
    where c.local_date = $day and q.queue_type = 'queue'
)
select
    case when grouping(source) = 1 then 'all' else source end as source,
    case when grouping(queue_id) = 1 then 'all' else queue_id end as queue_id,
    case when grouping(queue_name) = 1 then null else queue_name end as queue_name,
    count(*) as offered,
    count(*) filter (where outcome = 'answered') as answered,
    count(*) filter (where outcome = 'abandoned') as abandoned,
    round(100.0 * count(*) filter (where outcome = 'answered' and wait_seconds <= 20) / nullif(count(*), 0), 1)
        as service_level_20s_pct,
    round(avg(wait_seconds) filter (where outcome = 'answered'), 1) as avg_speed_of_answer_seconds,
    round(100.0 * count(*) filter (where outcome = 'abandoned') / nullif(count(*), 0), 1) as abandonment_rate_pct
from calls
group by grouping sets ((source, queue_id, queue_name), (source), ())
having count(*) > 0
order by grouping(source) desc, list_position($sources, source), grouping(queue_id) desc, queue_name
