"""The report's figures: each one SQL file in include/reports/ (parameterised by day), its keys and measures, and
how a day's rows are set beside the day before and the same weekday a week before.

A figure's query answers for one day; comparing runs the same query for the other two days and joins the rows
on the figure's keys, so every figure is compared the same way and no query repeats another's logic.

A comparison day on which a row's source sent no CDR at all (for an all-sources row: no source sent any) has
no data: that row's values for the day are unknown (empty), not zero, its changes are empty, and its
``has_data_<period>`` column is false, so a first day reads "no data" rather than "+116". Figures that
measure the data itself (CDRs per source and hour, data health) keep their zeros.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from cdr import config
from cdr.registry import SOURCES
from cdr.sitetime import day_window

SQL_DIR = config.PROJECT_ROOT / "include" / "reports"
# The label of a row that totals a dimension (all sources, all directions, all of a source's queues ...).
TOTAL = "all"
# Suffix of the comparison columns -> how many days before the report's day.
PERIODS = {"day_before": 1, "week_before": 7}
SOURCE_LABELS = {**{s.name: s.label for s in SOURCES.values()}, TOTAL: "All sources"}


def source_label(source: Any) -> str:
    return SOURCE_LABELS.get(source, str(source))


@dataclass(frozen=True)
class Measure:
    name: str
    # count: a row missing on a day counts 0 and its change is a difference; pct (percent) and seconds (a mean):
    # missing is unknown (None), and the change is in points or seconds.
    kind: str = "count"
    # Which way is good ("up" or "down"), to colour a change; None: neither.
    better: str | None = None


@dataclass(frozen=True)
class Figure:
    name: str
    keys: tuple[str, ...]
    measures: tuple[Measure, ...] = ()
    compare: bool = True
    # Columns that belong to the report's day alone (a rank), left empty on rows only the other days have.
    day_only: tuple[str, ...] = ()
    # It counts the CDRs themselves: a day without any is a real zero, never "no data".
    measures_data: bool = False

    @property
    def sql(self) -> str:
        return _read_sql(self.name)


def _m(name: str, kind: str = "count", better: str | None = None) -> Measure:
    return Measure(name, kind, better)


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure(
            "calls_by_direction",
            ("source", "direction"),
            (
                _m("offered"),
                _m("answered", better="up"),
                _m("abandoned", better="down"),
                _m("answer_ratio_pct", "pct", "up"),
            ),
        ),
        Figure(
            "answer_ratio_by_country",
            ("source", "country_code"),
            (_m("calls"), _m("answered", better="up"), _m("answer_ratio_pct", "pct", "up")),
        ),
        Figure("incoming_by_hour", ("source", "hour"), (_m("incoming_calls"), _m("answered", better="up"))),
        Figure(
            "agents",
            ("source", "agent_key"),
            (_m("answered_incoming", better="up"), _m("answered_outgoing", better="up"), _m("talk_seconds")),
            day_only=("rank",),
        ),
        Figure(
            "agent_daily",
            ("source", "agent_key"),
            (
                _m("calls_handled", better="up"),
                _m("talk_seconds"),
                _m("aht_seconds", "seconds"),
                _m("missed_calls", better="down"),
            ),
        ),
        Figure(
            "queues",
            ("source", "queue_id"),
            (
                _m("offered"),
                _m("answered", better="up"),
                _m("abandoned", better="down"),
                _m("short_abandons"),
                _m("service_level_pct", "pct", "up"),
                _m("avg_speed_of_answer_seconds", "seconds", "down"),
                _m("abandonment_rate_pct", "pct", "down"),
            ),
        ),
        Figure("callbacks", ("caller_number",), compare=False),
        Figure(
            "repeat_callers",
            ("source",),
            (
                _m("incoming_calls"),
                _m("missed", better="down"),
                _m("short_abandons"),
                _m("repeat_callers", better="down"),
                _m("repeat_caller_pct", "pct", "down"),
                _m("called_back_first_pct", "pct", "up"),
                _m("fcr_pct", "pct", "up"),
            ),
        ),
        Figure(
            "routes",
            ("source", "route", "direction", "country_code"),
            (
                _m("seizures"),
                _m("asr_pct", "pct", "up"),
                _m("ner_pct", "pct", "up"),
                _m("acd_seconds", "seconds", "up"),
                _m("avg_ring_seconds", "seconds", "down"),
            ),
        ),
        Figure("hangup_causes", ("source", "status", "source_status"), (_m("legs"), _m("share_of_source_pct", "pct"))),
        Figure("cdrs_by_hour", ("source", "hour"), (_m("cdrs"),), measures_data=True),
        Figure("gaps", ("source", "hour"), compare=False),
        Figure("health", ("source",), (_m("cdrs"),), measures_data=True),
        Figure("unmapped", ("source", "affects", "field", "raw_value", "mapped_to"), compare=False),
        Figure("reconciliation", ("cdrs",), compare=False),
        Figure("ingest_lag", ("source",), compare=False),
    )
}


@cache
def _read_sql(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"the report's query {path} is missing")
    return path.read_text()


def prepare(con) -> None:
    """Create the macros the queries share (include/reports/_macros.sql) on a report's connection."""
    con.execute(_read_sql("_macros"))


def day_params(day: date, sources: list[str]) -> dict[str, Any]:
    """What a query may use: $day (DATE, the call centre's business day: the marts' local_date), $day_start and
    $day_end (the instants its local midnights are), $sources (in report order)."""
    start, end = day_window(day)
    return {"day": day, "day_start": start, "day_end": end, "sources": sources}


@dataclass
class Table:
    """A figure's rows for the report's day, in order, with its column names (kept on a day with no rows, so
    its CSV still has a header)."""

    columns: list[str]
    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.rows if all(r.get(k) == v for k, v in match.items())]

    def one(self, **match: Any) -> dict[str, Any] | None:
        found = self.where(**match)
        return found[0] if found else None


def run(con, sql: str, params: dict[str, Any]) -> Table:
    """Only the parameters the SQL names are bound (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$(\w+)", sql))
    missing = used - params.keys()
    if missing:
        raise KeyError(f"the query needs parameters {sorted(missing)} that the report does not provide")
    cursor = con.execute(sql, {k: v for k, v in params.items() if k in used})
    names = [d[0] for d in cursor.description]
    return Table(names, [dict(zip(names, row)) for row in cursor.fetchall()])


def day_table(con, figure: Figure, day: date, sources: list[str]) -> Table:
    return run(con, figure.sql, day_params(day, sources))


def sources_with_data(con, day: date) -> frozenset[str]:
    """The sources that sent at least one CDR (a leg of marts.fct_cdr) that started on ``day`` (local)."""
    return frozenset(
        r[0] for r in con.execute("select distinct source from marts.fct_cdr where local_date = ?", [day]).fetchall()
    )


def has_data(row: dict[str, Any], with_data: frozenset[str]) -> bool:
    """Whether a comparison day has data for a row: its source sent CDRs that day (any source, for 'all')."""
    source = row.get("source", TOTAL)
    return bool(with_data) if source == TOTAL else source in with_data


def compared_table(con, figure: Figure, day: date, sources: list[str]) -> Table:
    """The day's rows, each with ``<measure>_<period>`` (the other day's value) and ``<measure>_vs_<period>`` (the
    change) for the day before and the week before, and ``has_data_<period>``. A key found only on another day
    is kept, at zero (counts); a comparison day without data for a row leaves its values and changes empty."""
    table = day_table(con, figure, day, sources)
    if not figure.compare:
        return table
    others = {
        period: {_key(figure, r): r for r in day_table(con, figure, day - timedelta(days=back), sources).rows}
        for period, back in PERIODS.items()
    }
    with_data = {period: sources_with_data(con, day - timedelta(days=back)) for period, back in PERIODS.items()}
    merged = {_key(figure, r): dict(r) for r in table.rows}
    for other in others.values():
        for key, row in other.items():
            if key not in merged:
                merged[key] = {
                    **row,
                    **{m.name: _missing(m) for m in figure.measures},
                    **{c: None for c in figure.day_only},
                }
    added = [f"{m.name}_{suffix}" for m in figure.measures for suffix in (*PERIODS, *(f"vs_{p}" for p in PERIODS))] + [
        f"has_data_{p}" for p in PERIODS
    ]
    for key, row in merged.items():
        known = {p: figure.measures_data or has_data(row, with_data[p]) for p in PERIODS}
        for measure in figure.measures:
            for period, other in others.items():
                before = other[key][measure.name] if key in other else _missing(measure)
                row[f"{measure.name}_{period}"] = before if known[period] else None
            for period in PERIODS:
                row[f"{measure.name}_vs_{period}"] = change(measure, row[measure.name], row[f"{measure.name}_{period}"])
        for period in PERIODS:
            row[f"has_data_{period}"] = known[period]
    return Table(table.columns + added, list(merged.values()))


def _key(figure: Figure, row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in figure.keys)


def _missing(measure: Measure) -> int | None:
    return 0 if measure.kind == "count" else None


def change(measure: Measure, now: Any, before: Any) -> int | float | None:
    if now is None or before is None:
        return None
    if measure.kind == "count":
        return now - before
    return round(now - before, 1)
