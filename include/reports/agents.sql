-- Agents ranked by the incoming and outgoing calls they answered (marts.fct_call.answered_by_agent_key), then
-- by talk time (the talk seconds of every leg the agent was on, marts.fct_cdr.agent_key), on $day.
-- Per-source totals (agent_key 'all') and the total of all sources (source 'all') follow the agents.
-- An agent reads as their name (the source's, else the agent directory's, else the id) with their team.
with answered as (
    select answered_by_agent_key as agent_key,
           count(*) filter (where direction = 'inbound') as answered_incoming,
           count(*) filter (where direction = 'outbound') as answered_outgoing
    from marts.fct_call
    where local_date = $day and outcome = 'answered' and answered_by_agent_key is not null
    group by all
),
talk as (
    select agent_key, coalesce(sum(talk_seconds), 0) as talk_seconds
    from marts.fct_cdr
    where local_date = $day and agent_key is not null
    group by all
),
per_agent as (
    select a.source, a.agent_key, a.display_name as agent, a.team,
           coalesce(n.answered_incoming, 0) as answered_incoming,
           coalesce(n.answered_outgoing, 0) as answered_outgoing,
           coalesce(t.talk_seconds, 0) as talk_seconds
    from marts.dim_agent a
    left join answered n using (agent_key)
    left join talk t using (agent_key)
    where n.agent_key is not null or t.agent_key is not null
),
totals as (
    select
        case when grouping(source) = 1 then 'all' else source end as source,
        'all' as agent_key, null::varchar as agent, null::varchar as team,
        coalesce(sum(answered_incoming), 0)::bigint as answered_incoming,
        coalesce(sum(answered_outgoing), 0)::bigint as answered_outgoing,
        coalesce(sum(talk_seconds), 0)::bigint as talk_seconds
    from per_agent
    group by grouping sets ((source), ())
)
-- The union is ordered from outside: DuckDB before 2.0 (the DuckLake's) refuses ORDER BY expressions on a UNION.
select * from (
    select row_number() over (
               order by answered_incoming + answered_outgoing desc, talk_seconds desc, agent, source
           ) as rank,
           source, agent_key, agent, team, answered_incoming, answered_outgoing, talk_seconds::bigint as talk_seconds
    from per_agent
    union all
    select null, * from totals
) as figure
order by rank nulls last, source = 'all', list_position($sources, source)
