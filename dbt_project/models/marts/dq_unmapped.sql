-- Every raw value the model could not map, per source, UTC day and field, with the legs that carry it.
with

legs as (

    select * from {{ ref('fct_cdr') }}

),

agents as (

    select * from {{ ref('dim_agent') }}

),

queues as (

    select * from {{ ref('dim_queue') }}

),

leg_values as (

    select
        source,
        date_key,
        unnest(unmapped_values, recursive := true),
        status,
        direction
    from legs
    where len(unmapped_values) > 0

),

-- An agent or queue that no leg names: analysts see only its id.
unnamed as (

    select legs.source, legs.date_key, 'agent_id' as field, 'agent_name' as affects, legs.agent_id as value
    from legs
    inner join agents using (agent_key)
    where agents.agent_name is null

    union all

    select legs.source, legs.date_key, 'queue_id', 'queue_name', legs.queue_id
    from legs
    inner join queues using (queue_key)
    where queues.queue_name is null

),

all_values as (

    select
        source,
        date_key,
        affects,
        field,
        value,
        case affects when 'status' then status when 'direction' then direction end as mapped_to
    from leg_values

    union all

    select source, date_key, affects, field, value, null from unnamed

),

final as (

    select
        source,
        date_key,
        affects,
        field,
        value as raw_value,
        mapped_to,
        count(*) as legs
    from all_values
    group by all

)

select * from final
