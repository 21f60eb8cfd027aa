-- Every source's legs in the conformed shape, one branch per source.
with

kazoo as (

    select * from {{ ref('int_kazoo__legs') }}

),

unioned as (

    select * from kazoo

)

select * from unioned
