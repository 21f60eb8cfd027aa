{#- Talk time only on answered legs (macro talk_when_answered): a leg with talk_seconds above 0 whose status is
    not `answered` fails. -#}
{% test talk_only_when_answered(model, column_name) %}
select source, source_cdr_id, status, {{ column_name }}
from {{ model }}
where {{ column_name }} > 0 and status != 'answered'
{% endtest %}
