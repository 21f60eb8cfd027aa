-- Repeat callers and first-contact resolution on $day (marts.fct_inbound_call), per source and all sources ('all'):
-- incoming calls from a known number; missed ones (not answered) and short abandons among them; the missed calls
-- whose number called again within kpi_settings.repeat_call_window_hours (repeat callers), and of those the share an
-- agent called back first; the answered calls whose caller did not call again within fcr_window_days (the FCR
-- proxy). The windows may run past the warehouse's newest call: a recent day's figures are provisional.
with calls as (
    select source, was_missed, is_short_abandon, outcome, called_again_within_window, called_back_first,
           called_again_within_fcr_window
    from marts.fct_inbound_call
    where local_date = $day
),
grid as (
    select s.source from unnest($sources) as s(source)
    union
    select distinct source from calls
)
select
    case when grouping(g.source) = 1 then 'all' else g.source end as source,
    count(c.outcome) as incoming_calls,
    count(c.outcome) filter (where c.was_missed) as missed,
    count(c.outcome) filter (where c.is_short_abandon) as short_abandons,
    count(c.outcome) filter (where c.was_missed and c.called_again_within_window) as repeat_callers,
    round(100.0 * count(c.outcome) filter (where c.was_missed and c.called_again_within_window)
          / nullif(count(c.outcome) filter (where c.was_missed), 0), 1) as repeat_caller_pct,
    round(100.0 * count(c.outcome) filter (where c.was_missed and c.called_again_within_window and c.called_back_first)
          / nullif(count(c.outcome) filter (where c.was_missed and c.called_again_within_window), 0), 1)
        as called_back_first_pct,
    round(100.0 * count(c.outcome) filter (where c.outcome = 'answered' and not c.called_again_within_fcr_window)
          / nullif(count(c.outcome) filter (where c.outcome = 'answered'), 0), 1) as fcr_pct
from grid g
left join calls c on c.source = g.source
group by grouping sets ((g.source), ())
order by grouping(g.source) desc, list_position($sources, g.source)
