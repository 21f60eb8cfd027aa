-- Every raw value the model could not map, per source, UTC day and field, with the legs that carry it.
with

-- Not materialized: each use reads only the columns and legs it needs (a copy of every leg cost a third of this
-- model at 10M legs).
legs as not materialized (

    select * from {{ ref('fct_cdr') }}

),

agents as (

    select * from {{ ref('dim_agent') }}

),

queues as (

    select * from {{ ref('dim_queue') }}

),

conflicts as (

    select * from {{ ref('int_cdr__resend_conflicts') }}

),

clock_checks as (

    select * from {{ ref('int_cdr__clock_checks') }}

),

leg_values as (

    select
        source,
        -- the call centre's business day (fct_cdr.local_date), as the report reads it
        local_date as date_key,
        -- the struct's fields are the columns field, affects and value
        unnest(unmapped_values, recursive := true),  -- noqa: AL03
        status,
        direction
    from legs
    where len(unmapped_values) > 0

),

-- An agent or queue that no leg names: analysts see only its id.
unnamed as (

    select
        legs.source,
        legs.local_date as date_key,
        'agent_id' as field,
        'agent_name' as affects,
        legs.agent_id as value
    from legs
    inner join agents using (agent_key)
    where agents.agent_name is null

    union all

    select
        legs.source,
        legs.local_date as date_key,
        'queue_id' as field,
        'queue_name' as affects,
        legs.queue_id as value
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

    select
        source,
        date_key,
        affects,
        field,
        value,
        null as mapped_to
    from unnamed

    union all

    -- a CDR sent again with other content: the first copy counts, each later version is counted here
    select
        source,
        date_key,
        'conflict' as affects,
        'resend' as field,
        source_cdr_id as value,
        'kept the first' as mapped_to
    from conflicts, range(versions - 1)

),

counted as (

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

),

final as (

    select * from counted

    union all

    -- a source's clock contradicted by a second witness (the Voicenter Call Log's true UTC)
    select
        source,
        date_key,
        affects,
        field,
        raw_value,
        mapped_to,
        legs
    from clock_checks

)

select * from final
