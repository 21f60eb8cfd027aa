{#- Names and teams: the source's own name for the agent where it sends one; else the agent directory's (the seed
    agent_directory, whose rows the operator's CSV overrides per source and agent, macro agent_directory_csv);
    else the id alone. -#}
{%- set operator_csv = agent_directory_csv() %}

with

legs as (

    select * from {{ ref('fct_cdr') }}

),

seeded as (

    select
        source,
        agent_id,
        agent_name,
        team,
        1 as precedence
    from {{ ref('agent_directory') }}

),

directory_entries as (

    select * from seeded
    {%- if operator_csv %}

    union all by name

    -- the operator's rows win over the seed's for the same source and agent
    select
        lower(nullif(trim(source), '')) as source,
        nullif(trim(agent_id), '') as agent_id,
        nullif(trim(agent_name), '') as agent_name,
        nullif(trim(team), '') as team,
        0 as precedence
    from read_csv({{ sql_string(operator_csv) }}, header = true, all_varchar = true)
    {%- endif %}

),

directory as (

    select
        source,
        agent_id,
        agent_name,
        team
    from directory_entries
    where source is not null and agent_id is not null
    qualify row_number() over (partition by source, agent_id order by precedence) = 1

),

agents as (

    select
        agent_key,
        source,
        agent_id,
        -- The name an agent had on their latest leg: names change, the id does not.
        arg_max(agent_name, {{ leg_order() }}) filter (where agent_name is not null) as agent_name,
        min(started_at) as first_seen_at,
        max(started_at) as last_seen_at
    from legs
    where agent_key is not null
    group by agent_key, source, agent_id

),

final as (

    select
        agents.agent_key,
        agents.source,
        agents.agent_id,
        coalesce(agents.agent_name, directory.agent_name) as agent_name,
        coalesce(agents.agent_name, directory.agent_name, agents.agent_id) as display_name,
        case
            when agents.agent_name is not null then 'source'
            when directory.agent_name is not null then 'directory'
            else 'agent_id'
        end as name_basis,
        directory.team,
        agents.first_seen_at,
        agents.last_seen_at
    from agents
    left join directory
        on agents.source = directory.source and agents.agent_id = directory.agent_id

)

select * from final
