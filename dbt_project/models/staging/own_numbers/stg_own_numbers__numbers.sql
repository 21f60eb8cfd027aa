with

source as (

    select * from {{ source('own_numbers', 'numbers') }}

),

renamed as (

    select
        owner_source,
        "number",
        origin,
        state,
        used_by,
        _extracted_at as extracted_at
    from source

)

select * from renamed
