-- Every source's legs in the conformed shape, one branch per source.
with

kazoo as (

    select * from {{ ref('int_kazoo__legs') }}

),

pbx as (

    select * from {{ ref('int_pbx__legs') }}

),

enigma as (

    select * from {{ ref('int_enigma__legs') }}

),

voicenter as (

    select * from {{ ref('int_voicenter__legs') }}

),

unioned as (

    select * from kazoo
    union all by name
    select * from pbx
    union all by name
    select * from enigma
    union all by name
    select * from voicenter

)

select * from unioned
