with

legs as (

    select * from {{ ref('fct_cdr') }}

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

    select * from agents

)

select * from final
