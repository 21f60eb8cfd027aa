-- Agents over time on $day (marts.agg_agent_daily): calls handled, talk time, average handle time (talk plus ring
-- of the answered legs; no after-call work in CDRs) and the calls that rang the agent unanswered, per agent, with
-- per-source totals (agent_key 'all') and all sources (source 'all'). Most calls handled first.
with per_agent as (
    select d.source, d.agent_key, a.display_name as agent, a.team, d.calls_handled, d.talk_seconds,
           d.legs_answered, d.handle_seconds, d.aht_seconds, d.missed_calls
    from marts.agg_agent_daily d
    join marts.dim_agent a using (agent_key)
    where d.date_key = $day
)
-- The union is ordered from outside: DuckDB before 2.0 (the DuckLake's) refuses ORDER BY expressions on a UNION.
select * from (
    select source, agent_key, agent, team, calls_handled::bigint as calls_handled, talk_seconds::bigint as talk_seconds,
           aht_seconds, missed_calls::bigint as missed_calls
    from per_agent
    union all
    select
        case when grouping(source) = 1 then 'all' else source end,
        'all', null, null,
        sum(calls_handled)::bigint, sum(talk_seconds)::bigint,
        round(sum(handle_seconds) / nullif(sum(legs_answered), 0), 1),
        sum(missed_calls)::bigint
    from per_agent
    group by grouping sets ((source), ())
) as figure
order by agent_key = 'all', source = 'all', list_position($sources, source), calls_handled desc, agent
