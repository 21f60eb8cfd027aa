{#- Fails (or warns, by its severity) for each source and UTC day with at least `min_legs` legs where more than
    `max_share` of the legs have `column_name` = `value`: a vocabulary the model does not know yet, for example. -#}
{% test daily_share_at_most(model, column_name, value, max_share, min_legs=20) %}

with days as (

    select
        source,
        date_key,
        count(*) as legs,
        count(*) filter (where {{ column_name }} = '{{ value }}') as matching
    from {{ model }}
    group by all

)

select source, date_key, legs, matching, round(matching / legs, 3) as share
from days
where legs >= {{ min_legs }} and matching / legs > {{ max_share }}

{% endtest %}

{#- Warns (by its severity) with the rows of `model` that match `condition`: for marts.dq_unmapped, every word the
    model could not map shows in the build's log, with its source, day and count. -#}
{% test no_rows_where(model, condition) %}

select * from {{ model }} where {{ condition }}

{% endtest %}
