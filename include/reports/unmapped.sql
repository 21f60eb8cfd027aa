-- Data health: the raw values of $day's legs the model could not map (marts.dq_unmapped): a source's word no seed
-- knows, an outside number that does not parse, an agent or queue no leg names; per source, the words that decided
-- a status or direction first, then most legs first.
select
    d.source,
    d.affects,
    d.field,
    d.raw_value,
    d.mapped_to,
    d.legs::integer as legs
from marts.dq_unmapped d
where d.date_key = $day
order by list_position($sources, d.source), d.affects in ('agent_name', 'queue_name'), d.legs desc, d.affects,
    d.field, d.raw_value
