-- Every source's legs in the conformed shape: the int_<source>__legs model of each source of the registry
-- (the var cdr_sources), unioned by column name.
with

unioned as (
    {{ union_source_models('legs') }}

)

select * from unioned
