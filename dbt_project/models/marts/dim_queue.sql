with

legs as (

    select * from {{ ref('fct_cdr') }}

),

queues as (

    select
        queue_key,
        source,
        queue_id,
        arg_max(queue_name, {{ leg_order() }}) filter (where queue_name is not null) as queue_name,
        -- the Enigma dialer's campaigns play the part of queues
        case when source = 'enigma' then 'campaign' else 'queue' end as queue_type
    from legs
    where queue_key is not null
    group by queue_key, source, queue_id

),

final as (

    select * from queues

)

select * from final
