with

legs as (

    select * from {{ ref('fct_cdr') }}

),

sources as (

    select * from {{ ref('cdr_sources') }}

),

queues as (

    select
        queue_key,
        source,
        queue_id,
        arg_max(queue_name, {{ leg_order() }}) filter (where queue_name is not null) as queue_name
    from legs
    where queue_key is not null
    group by queue_key, source, queue_id

),

final as (

    select
        queues.*,
        -- what the source's queues are (seed cdr_sources): the Enigma dialer's campaigns play their part
        sources.queue_type
    from queues
    left join sources using (source)

)

select * from final
