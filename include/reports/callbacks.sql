-- The call-back list: callers whose incoming call on $day was abandoned (marts.fct_call.outcome) and who were not
-- reached later that day, i.e. no answered call, incoming or outgoing and from any source, with the same number
-- as the outside party started after their last abandoned call and before the day ended. One row per number;
-- calls without a caller number cannot be called back and are left out. Oldest abandoned call first. A number
-- already called back (an outgoing call to it after its last abandoned call that was not answered) is marked:
-- call_back_attempts and the last attempt.
with parties as (
    select call_key,
           arg_min(caller_number, started_at) as caller_number,
           arg_min(callee_number, started_at) as callee_number
    from marts.fct_cdr
    where local_date = $day
    group by all
),
abandoned as (
    select p.caller_number as number, c.source, c.started_at, c.queue_wait_seconds, q.queue_name,
           c.remote_country_code
    from marts.fct_call c
    join parties p using (call_key)
    left join marts.dim_queue q using (queue_key)
    where c.local_date = $day and c.direction = 'inbound' and c.outcome = 'abandoned'
      and nullif(trim(p.caller_number), '') is not null
),
answered as (
    select case c.direction when 'inbound' then p.caller_number else p.callee_number end as number, c.started_at
    from marts.fct_call c
    join parties p using (call_key)
    where c.local_date = $day and c.outcome = 'answered' and c.direction in ('inbound', 'outbound')
),
attempts as (
    select p.callee_number as number, c.started_at
    from marts.fct_call c
    join parties p using (call_key)
    where c.local_date = $day and c.direction = 'outbound'
),
per_number as (
    select number as caller_number,
           any_value(remote_country_code) as country_code,
           count(*) as abandoned_calls,
           min(started_at) as first_abandoned_at,
           max(started_at) as last_abandoned_at,
           max(queue_wait_seconds) as longest_wait_seconds,
           string_agg(distinct source, ', ' order by source) as sources,
           string_agg(distinct queue_name, ', ' order by queue_name) as queues
    from abandoned
    group by all
)
select p.caller_number, coalesce(co.country_name, 'Unknown') as country_name, p.abandoned_calls,
       p.first_abandoned_at at time zone 'UTC' as first_abandoned_at_utc,
       p.last_abandoned_at at time zone 'UTC' as last_abandoned_at_utc,
       p.longest_wait_seconds, p.sources, p.queues,
       (select count(*) from attempts t where t.number = p.caller_number and t.started_at > p.last_abandoned_at)
           as call_back_attempts,
       (select max(t.started_at) from attempts t where t.number = p.caller_number
           and t.started_at > p.last_abandoned_at) at time zone 'UTC' as last_call_back_at_utc
from per_number p
left join marts.dim_country co on co.country_code = p.country_code
where not exists (
    select 1 from answered a where a.number = p.caller_number and a.started_at > p.last_abandoned_at
)
order by p.last_abandoned_at, p.caller_number
