"""What the daily report should say, counted here: the warehouses its tests read and the oracle they check it by.

Shared by test_reports_oracle.py (every figure against this oracle), test_reports_browser.py (the page in
chromium) and test_reports_mail.py (the report mailed by `airflow dags test cdr_reports`). The oracle is plain
SQL that only fetches rows, and the counting, totals, ratios and comparisons done here in Python, never with the
report's queries. The fixtures are imported by each test module (module scope: one demo copy per module).
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cdr.reporting.build import build_report

DEMO_DAY = date(2026, 11, 20)
ALL = "all"
SOURCES = ["kazoo", "pbx", "enigma", "voicenter"]
COUNT, PCT, SECONDS = "count", "pct", "seconds"


# --- warehouses ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base(warehouse, tmp_path_factory) -> Path:
    """A copy of the demo warehouse (the fixture keeps the original open read-only, as an analyst would)."""
    original = warehouse.execute("select path from duckdb_databases() where database_name = current_database()")
    target = tmp_path_factory.mktemp("reports-base") / "warehouse.duckdb"
    shutil.copyfile(original.fetchone()[0], target)
    return target


def derive(base: Path, target: Path, tables: dict[str, str], published_at: str | None = None) -> Path:
    """A warehouse like ``base`` whose marts tables are replaced by the given selects over ``demo.marts``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{base}' as demo (read_only)")
        con.execute("create schema marts")
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'demo' and schema_name = 'marts'"
        ).fetchall():
            con.execute(f"create table marts.{table} as " + tables.get(table, f"select * from demo.marts.{table}"))
        con.execute("create table main.build_info as select * from demo.main.build_info")
        if published_at:
            con.execute("update main.build_info set published_at = ?::timestamptz", [published_at])
        con.execute("detach demo")
    return target


def without_source(source: str) -> dict[str, str]:
    return {
        t: f"select * from demo.marts.{t} where source <> '{source}'"
        for t in ("fct_cdr", "fct_call", "dim_agent", "dim_queue")
    }


def history() -> dict[str, str]:
    """KAZOO also on the two same weekdays before but silent at 10:00-12:00 on the demo day (a gap), and the PBX
    moved a week back (silent on the day)."""
    tables = {}
    for table, keys in (
        ("fct_cdr", "f.cdr_key || '-w' || w as cdr_key, f.call_key || '-w' || w as call_key"),
        ("fct_call", "f.call_key || '-w' || w as call_key"),
    ):
        moved = (
            "f.started_at - to_days(7 * w) as started_at, f.ended_at - to_days(7 * w) as ended_at, "
            "f.date_key - 7 * w as date_key, f.started_at_local - to_days(7 * w) as started_at_local, "
            "f.local_date - 7 * w as local_date"
        )
        tables[table] = f"""
            select * from demo.marts.{table} where source not in ('kazoo', 'pbx')
            union all
            select * from demo.marts.{table}
            where source = 'kazoo' and hour(started_at at time zone 'UTC') not in (10, 11)
            union all
            select f.* replace ({keys}, {moved}) from demo.marts.{table} f, (values (1), (2)) v(w)
            where f.source = 'kazoo'
            union all
            select f.* replace ({moved}) from demo.marts.{table} f, (values (1)) v(w) where f.source = 'pbx'
        """
    return tables


@pytest.fixture(scope="module")
def reports_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


def report(warehouse_path: Path, reports_root: Path, day: date, name: str) -> Path:
    return build_report(day, warehouse=warehouse_path, reports_root=reports_root / name).directory


# --- what the report should say, counted here --------------------------------------------------------------------


def fetch(con, sql: str, *params) -> list[dict]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def grouped(items, *key_fns) -> dict[tuple, list]:
    groups = defaultdict(list)
    for item in items:
        for key_fn in key_fns:
            groups[tuple(str(k) for k in key_fn(item))].append(item)
    return groups


def ratio(part: int, whole: int) -> float | None:
    """Unrounded: the report's value must be this rounded to one decimal (either way on a tie)."""
    return 100.0 * part / whole if whole else None


def hour(moment: datetime) -> int:
    return moment.astimezone(UTC).hour


def utc_text(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def expect_calls(con, day):
    calls = fetch(con, "select source, direction, outcome from marts.fct_call where date_key = ?", day)
    groups = grouped(
        calls,
        lambda c: (c["source"], c["direction"]),
        lambda c: (c["source"], ALL),
        lambda c: (ALL, c["direction"]),
        lambda c: (ALL, ALL),
    )
    return {
        k: {
            "offered": len(v),
            "answered": _n(v, "outcome", "answered"),
            "abandoned": _n(v, "outcome", "abandoned"),
            "answer_ratio_pct": ratio(_n(v, "outcome", "answered"), len(v)),
        }
        for k, v in groups.items()
    }


def expect_countries(con, day):
    calls = fetch(
        con,
        "select source, remote_country_code as cc, outcome from marts.fct_call "
        "where date_key = ? and direction = 'outbound'",
        day,
    )
    groups = grouped(calls, lambda c: (c["source"], c["cc"] or ""), lambda c: (ALL, c["cc"] or ""))
    return {
        k: {
            "calls": len(v),
            "answered": _n(v, "outcome", "answered"),
            "answer_ratio_pct": ratio(_n(v, "outcome", "answered"), len(v)),
        }
        for k, v in groups.items()
    }


def expect_incoming_by_hour(con, day):
    calls = fetch(
        con, "select source, started_at, outcome from marts.fct_call where date_key = ? and direction = 'inbound'", day
    )
    groups = grouped(calls, lambda c: (c["source"], hour(c["started_at"])), lambda c: (ALL, hour(c["started_at"])))
    return {k: {"incoming_calls": len(v), "answered": _n(v, "outcome", "answered")} for k, v in groups.items()}


def expect_agents(con, day):
    answered = fetch(
        con,
        "select answered_by_agent_key as agent_key, direction from marts.fct_call "
        "where date_key = ? and outcome = 'answered' and answered_by_agent_key is not null",
        day,
    )
    legs = fetch(
        con, "select agent_key, talk_seconds from marts.fct_cdr where date_key = ? and agent_key is not null", day
    )
    source_of = dict(con.execute("select agent_key, source from marts.dim_agent").fetchall())
    items = [
        {"agent_key": a["agent_key"], "in": a["direction"] == "inbound", "out": a["direction"] == "outbound", "talk": 0}
        for a in answered
    ] + [{"agent_key": leg["agent_key"], "in": False, "out": False, "talk": leg["talk_seconds"] or 0} for leg in legs]
    groups = grouped(
        items,
        lambda i: (source_of[i["agent_key"]], i["agent_key"]),
        lambda i: (source_of[i["agent_key"]], ALL),
        lambda i: (ALL, ALL),
    )
    return {
        k: {
            "answered_incoming": sum(i["in"] for i in v),
            "answered_outgoing": sum(i["out"] for i in v),
            "talk_seconds": sum(i["talk"] for i in v),
        }
        for k, v in groups.items()
    }


def expect_queues(con, day):
    calls = fetch(
        con,
        "select q.source, q.queue_id, c.outcome, c.queue_wait_seconds as raw_wait, "
        "coalesce(c.queue_wait_seconds, 0) as wait "
        "from marts.fct_call c join marts.dim_queue q on q.queue_key = c.queue_key "
        "where c.date_key = ? and q.queue_type = 'queue'",
        day,
    )
    groups = grouped(calls, lambda c: (c["source"], c["queue_id"]), lambda c: (c["source"], ALL), lambda c: (ALL, ALL))
    expected = {}
    for key, group in groups.items():
        answered = [c for c in group if c["outcome"] == "answered"]
        # the documented defaults: a short abandon waited under 5 s (a known wait); service level 20 s over the
        # offered calls but the short abandons
        short = sum(c["outcome"] == "abandoned" and c["raw_wait"] is not None and c["raw_wait"] < 5 for c in group)
        abandoned = _n(group, "outcome", "abandoned")
        expected[key] = {
            "offered": len(group),
            "answered": len(answered),
            "abandoned": abandoned,
            "short_abandons": short,
            "service_level_pct": ratio(sum(c["wait"] <= 20 for c in answered), len(group) - short),
            "avg_speed_of_answer_seconds": sum(c["wait"] for c in answered) / len(answered) if answered else None,
            "abandonment_rate_pct": ratio(abandoned - short, len(group) - short),
        }
    return expected


# ITU-T E.425's completed seizures, as the warehouse's outcomes say them; a decline is a SIP 603/607/608 on any leg.
EFFECTIVE = {"answered", "busy", "no_answer", "voicemail", "abandoned"}
DECLINES = {603, 607, 608}


def expect_routes(con, day):
    calls = fetch(
        con,
        "select call_key, source, coalesce(route, '') as route, direction, coalesce(remote_country_code, '') as cc, "
        "outcome, talk_seconds, ring_seconds from marts.fct_call "
        "where date_key = ? and direction in ('inbound', 'outbound')",
        day,
    )
    declined = {
        r["call_key"]
        for r in fetch(con, "select call_key, sip_code from marts.fct_cdr where sip_code is not null")
        if r["sip_code"] in DECLINES
    }
    groups = grouped(
        calls,
        lambda c: (c["source"], c["route"], c["direction"], c["cc"]),
        lambda c: (c["source"], c["route"], c["direction"], ALL),
        lambda c: (c["source"], ALL, c["direction"], ALL),
        lambda c: (ALL, ALL, c["direction"], ALL),
    )
    expected = {}
    for key, group in groups.items():
        answered = [c for c in group if c["outcome"] == "answered"]
        effective = [
            c for c in group if c["outcome"] in EFFECTIVE or (c["outcome"] == "failed" and c["call_key"] in declined)
        ]
        rings = [c["ring_seconds"] for c in group if c["ring_seconds"] is not None]
        expected[key] = {
            "seizures": len(group),
            "asr_pct": ratio(len(answered), len(group)),
            "ner_pct": ratio(len(effective), len(group)),
            "acd_seconds": sum(c["talk_seconds"] or 0 for c in answered) / len(answered) if answered else None,
            "avg_ring_seconds": sum(rings) / len(rings) if rings else None,
        }
    return expected


def expect_callbacks(con, day) -> list[tuple]:
    legs = fetch(
        con,
        "select call_key, started_at, caller_number, callee_number from marts.fct_cdr "
        "where date_key = ? order by started_at",
        day,
    )
    first = {}
    for leg in legs:
        first.setdefault(leg["call_key"], leg)
    calls = fetch(
        con,
        "select call_key, direction, outcome, started_at, queue_wait_seconds from marts.fct_call where date_key = ?",
        day,
    )
    abandoned = defaultdict(list)
    for c in calls:
        number = (first[c["call_key"]]["caller_number"] or "").strip()
        if c["direction"] == "inbound" and c["outcome"] == "abandoned" and number:
            abandoned[first[c["call_key"]]["caller_number"]].append(c)
    reached = [
        (first[c["call_key"]]["caller_number" if c["direction"] == "inbound" else "callee_number"], c["started_at"])
        for c in calls
        if c["outcome"] == "answered" and c["direction"] in ("inbound", "outbound")
    ]
    due = []
    for number, group in abandoned.items():
        last = max(c["started_at"] for c in group)
        if not any(n == number and at > last for n, at in reached):
            waits = [c["queue_wait_seconds"] for c in group if c["queue_wait_seconds"] is not None]
            attempts = [
                c["started_at"]
                for c in calls
                if c["direction"] == "outbound"
                and first[c["call_key"]]["callee_number"] == number
                and c["started_at"] > last
            ]
            due.append((number, str(len(group)), utc_text(last), str(max(waits)) if waits else "", str(len(attempts))))
    return sorted(due, key=lambda d: (d[2], d[0]))


def expect_hangups(con, day):
    legs = fetch(
        con, "select source, status, coalesce(source_status, '(none)') as ss from marts.fct_cdr where date_key = ?", day
    )
    groups = grouped(
        legs,
        lambda x: (x["source"], x["status"], x["ss"]),
        lambda x: (x["source"], ALL, ALL),
        lambda x: (ALL, x["status"], ALL),
        lambda x: (ALL, ALL, ALL),
    )
    return {
        k: {"legs": len(v), "share_of_source_pct": ratio(len(v), len(groups[(k[0], ALL, ALL)]))}
        for k, v in groups.items()
    }


def expect_cdrs_by_hour(con, day):
    legs = fetch(con, "select source, started_at from marts.fct_cdr where date_key = ?", day)
    groups = grouped(legs, lambda x: (x["source"], hour(x["started_at"])), lambda x: (ALL, hour(x["started_at"])))
    return {k: {"cdrs": len(v)} for k, v in groups.items()}


def expect_gaps(con, day) -> list[tuple]:
    weeks = [day - timedelta(days=7 * w) for w in range(1, 5)]
    legs = fetch(
        con, "select source, date_key, started_at from marts.fct_cdr where date_key in (?, ?, ?, ?, ?)", day, *weeks
    )
    today = {(x["source"], hour(x["started_at"])) for x in legs if x["date_key"] == day}
    usual = defaultdict(set)
    for x in legs:
        if x["date_key"] != day:
            usual[(x["source"], hour(x["started_at"]))].add(x["date_key"])
    return sorted((s, str(h)) for (s, h), days in usual.items() if len(days) >= 2 and (s, h) not in today)


def expect_health(con, day):
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    legs = fetch(con, "select source, date_key, started_at from marts.fct_cdr")
    expected = {}
    for source in SOURCES:
        mine = [x for x in legs if x["source"] == source]
        before_end = [x["started_at"] for x in mine if x["started_at"] < end]
        expected[(source,)] = {
            "cdrs": sum(x["date_key"] == day for x in mine),
            "newest": utc_text(max(before_end)) if before_end else "",
        }
    return expected


def _n(items, field, value) -> int:
    return sum(i[field] == value for i in items)


FIGURES = {  # name: (keys, how to count it, measures and their kinds)
    "calls_by_direction": (
        ("source", "direction"),
        expect_calls,
        {"offered": COUNT, "answered": COUNT, "abandoned": COUNT, "answer_ratio_pct": PCT},
    ),
    "answer_ratio_by_country": (
        ("source", "country_code"),
        expect_countries,
        {"calls": COUNT, "answered": COUNT, "answer_ratio_pct": PCT},
    ),
    "incoming_by_hour": (("source", "hour"), expect_incoming_by_hour, {"incoming_calls": COUNT, "answered": COUNT}),
    "agents": (
        ("source", "agent_key"),
        expect_agents,
        {"answered_incoming": COUNT, "answered_outgoing": COUNT, "talk_seconds": COUNT},
    ),
    "queues": (
        ("source", "queue_id"),
        expect_queues,
        {
            "offered": COUNT,
            "answered": COUNT,
            "abandoned": COUNT,
            "short_abandons": COUNT,
            "service_level_pct": PCT,
            "avg_speed_of_answer_seconds": SECONDS,
            "abandonment_rate_pct": PCT,
        },
    ),
    "hangup_causes": (
        ("source", "status", "source_status"),
        expect_hangups,
        {"legs": COUNT, "share_of_source_pct": PCT},
    ),
    "cdrs_by_hour": (("source", "hour"), expect_cdrs_by_hour, {"cdrs": COUNT}),
    "routes": (
        ("source", "route", "direction", "country_code"),
        expect_routes,
        {"seizures": COUNT, "asr_pct": PCT, "ner_pct": PCT, "acd_seconds": SECONDS, "avg_ring_seconds": SECONDS},
    ),
}
PERIODS = {"day_before": 1, "week_before": 7}
# Figures that count the CDRs themselves: zero on a day without data, never "no data".
DATA_FIGURES = {"cdrs_by_hour"}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def same(text: str, expected, kind: str, what: str, slack: float = 0.0501) -> None:
    if expected is None:
        assert text == "", f"{what}: expected no value, the report says {text!r}"
    elif kind == COUNT:
        assert text != "" and int(text) == expected, f"{what}: expected {expected}, the report says {text!r}"
    else:
        assert text != "" and abs(float(text) - expected) <= slack, (
            f"{what}: expected {expected}, the report says {text!r}"
        )


def check_compared(directory: Path, name: str, con, day: date) -> list[dict]:
    """The CSV's day, day-before and week-before values and changes equal what this test counted."""
    keys, count, measures = FIGURES[name]
    rows = read_csv(directory / f"{name}.csv")
    by_key = {tuple(r[k] for k in keys): r for r in rows}
    assert len(by_key) == len(rows), f"{name}: a key appears twice"
    expected = {0: count(con, day), **{p: count(con, day - timedelta(days=back)) for p, back in PERIODS.items()}}
    with_data = {p: sources_on(con, day - timedelta(days=back)) for p, back in PERIODS.items()}
    for found in expected.values():
        missing = set(found) - set(by_key)
        assert not missing, f"{name}: rows missing from the report: {sorted(missing)[:5]}"
    for key, row in by_key.items():
        # A comparison day on which the row's source (any source, for 'all') sent nothing has no data.
        known = {
            p: name in DATA_FIGURES or (bool(with_data[p]) if key[0] == ALL else key[0] in with_data[p])
            for p in PERIODS
        }
        for period in PERIODS:
            assert row[f"has_data_{period}"] == ("true" if known[period] else "false"), f"{name} {key} {period}"
        for measure, kind in measures.items():
            default = 0 if kind == COUNT else None
            now = expected[0].get(key, {}).get(measure, default)
            same(row[measure], now, kind, f"{name} {key} {measure}")
            for period in PERIODS:
                before = expected[period].get(key, {}).get(measure, default) if known[period] else None
                same(row[f"{measure}_{period}"], before, kind, f"{name} {key} {measure}_{period}")
                delta = None if now is None or before is None else now - before
                # The change is of the rounded values: up to a rounding step from the exact one.
                same(row[f"{measure}_vs_{period}"], delta, kind, f"{name} {key} {measure}_vs_{period}", 0.1001)
    return rows


def check_report(directory: Path, warehouse_path: Path, day: date) -> None:
    """Every figure of one report against the warehouse it was made from."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for name in FIGURES:
            check_compared(directory, name, con, day)
        hours = read_csv(directory / "incoming_by_hour.csv")
        totals = sorted(
            ((int(r["incoming_calls"]), int(r["hour"])) for r in hours if r["source"] == ALL),
            key=lambda x: (-x[0], x[1]),
        )
        peaks = [h for calls, h in totals if calls > 0][:3]
        assert [
            int(r["hour"]) for r in sorted((r for r in hours if r["peak_rank"]), key=lambda r: int(r["peak_rank"]))
        ] == peaks
        agents = [r for r in read_csv(directory / "agents.csv") if r["rank"]]
        assert [int(r["rank"]) for r in agents] == list(range(1, len(agents) + 1))
        order = [(-int(r["answered_incoming"]) - int(r["answered_outgoing"]), -int(r["talk_seconds"])) for r in agents]
        assert order == sorted(order)
        callbacks = [
            (
                r["caller_number"],
                r["abandoned_calls"],
                r["last_abandoned_at_utc"],
                r["longest_wait_seconds"],
                r["call_back_attempts"],
            )
            for r in read_csv(directory / "callbacks.csv")
        ]
        assert callbacks == expect_callbacks(con, day)
        gaps = [(r["source"], r["hour"]) for r in read_csv(directory / "gaps.csv")]
        assert sorted(gaps) == expect_gaps(con, day)
        health = {r["source"]: r for r in read_csv(directory / "health.csv")}
        expected_health = expect_health(con, day)
        for source in SOURCES:
            assert int(health[source]["cdrs"]) == expected_health[(source,)]["cdrs"]
            assert health[source]["newest_cdr_at_utc"] == expected_health[(source,)]["newest"]
            gap_hours = sorted(int(h) for s, h in gaps if s == source)
            assert health[source]["gap_hours"] == " ".join(f"{h:02d}" for h in gap_hours)
        check_headline(directory, con, day)


def sources_on(con, day: date) -> set[str]:
    return {r[0] for r in con.execute("select source from marts.fct_cdr where date_key = ?", [day]).fetchall()}


def check_headline(directory: Path, con, day: date) -> None:
    headline = {r["kpi"]: r for r in read_csv(directory / "headline.csv")}
    for offset, suffix in ((0, ""), (1, "_day_before"), (7, "_week_before")):
        on = day - timedelta(days=offset)
        if offset and not sources_on(con, on):
            for kpi, row in headline.items():
                assert row[f"value{suffix}"] == "" and row[f"value_vs{suffix}"] == "", f"headline {kpi}{suffix}"
                assert row[f"has_data{suffix}"] == "false"
            continue
        calls, queues = expect_calls(con, on), expect_queues(con, on)
        expected = {
            "incoming_calls": calls.get((ALL, "inbound"), {}).get("offered", 0),
            "incoming_answer_ratio_pct": calls.get((ALL, "inbound"), {}).get("answer_ratio_pct"),
            "incoming_abandoned": calls.get((ALL, "inbound"), {}).get("abandoned", 0),
            "outgoing_calls": calls.get((ALL, "outbound"), {}).get("offered", 0),
            "outgoing_answer_ratio_pct": calls.get((ALL, "outbound"), {}).get("answer_ratio_pct"),
            "service_level_pct": queues.get((ALL, ALL), {}).get("service_level_pct"),
            "avg_speed_of_answer_seconds": queues.get((ALL, ALL), {}).get("avg_speed_of_answer_seconds"),
            "callbacks_due": len(expect_callbacks(con, on)),
        }
        for kpi, value in expected.items():
            same(headline[kpi][f"value{suffix}"], value, headline[kpi]["kind"], f"headline {kpi}{suffix}")


# --- a first day ------------------------------------------------------------------------------------------------


def only_the_demo_day() -> dict[str, str]:
    """The demo warehouse as on the first day it had data: nothing before (nor after) the demo day."""
    return {t: f"select * from demo.marts.{t} where date_key = DATE '{DEMO_DAY}'" for t in ("fct_cdr", "fct_call")}


@pytest.fixture(scope="module")
def first_day(base, reports_root, tmp_path_factory) -> Path:
    path = derive(base, tmp_path_factory.mktemp("first-day") / "warehouse.duckdb", only_the_demo_day())
    directory = report(path, reports_root, DEMO_DAY, "first-day")
    check_report(directory, path, DEMO_DAY)
    return directory
