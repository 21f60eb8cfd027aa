with

source as (

    select * from {{ source('voicenter_time_witness', 'log_times') }}

),

renamed as (

    select
        call_id as ivruniqueid,
        log_started_at,
        webhook_time,
        _extracted_at as extracted_at

    from source

)

select * from renamed
