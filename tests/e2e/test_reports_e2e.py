"""The daily report (cdr_reports) on the four-source demo warehouse and on warehouses derived from it.

Every CSV the report writes is checked against figures this test computes itself: plain SQL that only fetches
rows, and the counting, totals, ratios and comparisons done here in Python, never with the report's queries.
The HTML is loaded from file:// in Debian's chromium (through Playwright) on a phone's and a desktop's width,
and one `airflow dags test cdr_reports` run mails the report to an SMTP server on loopback.
"""

from __future__ import annotations

import csv
import email
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
import yaml
from launch import free_port

from cdr.reporting.build import build_report
from tests.conftest import ARTIFACTS, ROOT
from tests.e2e.airflow_cli import airflow

pytestmark = pytest.mark.e2e
UTC = timezone.utc
DEMO_DAY = date(2026, 11, 20)
ALL = "all"
SOURCES = ["kazoo", "pbx", "enigma", "voicenter"]
COUNT, PCT, SECONDS = "count", "pct", "seconds"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]


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
        for (table,) in con.execute("select table_name from duckdb_tables() where database_name = 'demo' "
                                    "and schema_name = 'marts'").fetchall():
            con.execute(f"create table marts.{table} as " + tables.get(table, f"select * from demo.marts.{table}"))
        con.execute("create table main.build_info as select * from demo.main.build_info")
        if published_at:
            con.execute("update main.build_info set published_at = ?::timestamptz", [published_at])
        con.execute("detach demo")
    return target


def without_source(source: str) -> dict[str, str]:
    return {t: f"select * from demo.marts.{t} where source <> '{source}'"
            for t in ("fct_cdr", "fct_call", "dim_agent", "dim_queue")}


def history() -> dict[str, str]:
    """KAZOO also on the two same weekdays before but silent at 10:00-12:00 on the demo day (a gap), and the PBX
    moved a week back (silent on the day)."""
    tables = {}
    for table, keys in (("fct_cdr", "f.cdr_key || '-w' || w as cdr_key, f.call_key || '-w' || w as call_key"),
                        ("fct_call", "f.call_key || '-w' || w as call_key")):
        moved = ("f.started_at - to_days(7 * w) as started_at, f.ended_at - to_days(7 * w) as ended_at, "
                 "f.date_key - 7 * w as date_key")
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
    groups = grouped(calls, lambda c: (c["source"], c["direction"]), lambda c: (c["source"], ALL),
                     lambda c: (ALL, c["direction"]), lambda c: (ALL, ALL))
    return {k: {"offered": len(v), "answered": _n(v, "outcome", "answered"), "abandoned": _n(v, "outcome", "abandoned"),
                "answer_ratio_pct": ratio(_n(v, "outcome", "answered"), len(v))} for k, v in groups.items()}


def expect_countries(con, day):
    calls = fetch(con, "select source, remote_country_code as cc, outcome from marts.fct_call "
                       "where date_key = ? and direction = 'outbound'", day)
    groups = grouped(calls, lambda c: (c["source"], c["cc"] or ""), lambda c: (ALL, c["cc"] or ""))
    return {k: {"calls": len(v), "answered": _n(v, "outcome", "answered"),
                "answer_ratio_pct": ratio(_n(v, "outcome", "answered"), len(v))} for k, v in groups.items()}


def expect_incoming_by_hour(con, day):
    calls = fetch(con, "select source, started_at, outcome from marts.fct_call where date_key = ? "
                       "and direction = 'inbound'", day)
    groups = grouped(calls, lambda c: (c["source"], hour(c["started_at"])), lambda c: (ALL, hour(c["started_at"])))
    return {k: {"incoming_calls": len(v), "answered": _n(v, "outcome", "answered")} for k, v in groups.items()}


def expect_agents(con, day):
    answered = fetch(con, "select answered_by_agent_key as agent_key, direction from marts.fct_call "
                          "where date_key = ? and outcome = 'answered' and answered_by_agent_key is not null", day)
    legs = fetch(con, "select agent_key, talk_seconds from marts.fct_cdr where date_key = ? and agent_key is not null",
                 day)
    source_of = dict(con.execute("select agent_key, source from marts.dim_agent").fetchall())
    items = ([{"agent_key": a["agent_key"], "in": a["direction"] == "inbound", "out": a["direction"] == "outbound",
               "talk": 0} for a in answered]
             + [{"agent_key": leg["agent_key"], "in": False, "out": False, "talk": leg["talk_seconds"] or 0}
                for leg in legs])
    groups = grouped(items, lambda i: (source_of[i["agent_key"]], i["agent_key"]),
                     lambda i: (source_of[i["agent_key"]], ALL), lambda i: (ALL, ALL))
    return {k: {"answered_incoming": sum(i["in"] for i in v), "answered_outgoing": sum(i["out"] for i in v),
                "talk_seconds": sum(i["talk"] for i in v)} for k, v in groups.items()}


def expect_queues(con, day):
    calls = fetch(con, "select q.source, q.queue_id, c.outcome, coalesce(c.queue_wait_seconds, 0) as wait "
                       "from marts.fct_call c join marts.dim_queue q on q.queue_key = c.queue_key "
                       "where c.date_key = ? and q.queue_type = 'queue'", day)
    groups = grouped(calls, lambda c: (c["source"], c["queue_id"]), lambda c: (c["source"], ALL), lambda c: (ALL, ALL))
    expected = {}
    for key, group in groups.items():
        answered = [c for c in group if c["outcome"] == "answered"]
        expected[key] = {
            "offered": len(group), "answered": len(answered), "abandoned": _n(group, "outcome", "abandoned"),
            "service_level_20s_pct": ratio(sum(c["wait"] <= 20 for c in answered), len(group)),
            "avg_speed_of_answer_seconds": sum(c["wait"] for c in answered) / len(answered) if answered else None,
            "abandonment_rate_pct": ratio(_n(group, "outcome", "abandoned"), len(group)),
        }
    return expected


def expect_callbacks(con, day) -> list[tuple]:
    legs = fetch(con, "select call_key, started_at, caller_number, callee_number from marts.fct_cdr "
                      "where date_key = ? order by started_at", day)
    first = {}
    for leg in legs:
        first.setdefault(leg["call_key"], leg)
    calls = fetch(con, "select call_key, direction, outcome, started_at, queue_wait_seconds from marts.fct_call "
                       "where date_key = ?", day)
    abandoned = defaultdict(list)
    for c in calls:
        number = (first[c["call_key"]]["caller_number"] or "").strip()
        if c["direction"] == "inbound" and c["outcome"] == "abandoned" and number:
            abandoned[first[c["call_key"]]["caller_number"]].append(c)
    reached = [(first[c["call_key"]]["caller_number" if c["direction"] == "inbound" else "callee_number"],
                c["started_at"]) for c in calls
               if c["outcome"] == "answered" and c["direction"] in ("inbound", "outbound")]
    due = []
    for number, group in abandoned.items():
        last = max(c["started_at"] for c in group)
        if not any(n == number and at > last for n, at in reached):
            waits = [c["queue_wait_seconds"] for c in group if c["queue_wait_seconds"] is not None]
            due.append((number, str(len(group)), utc_text(last), str(max(waits)) if waits else ""))
    return sorted(due, key=lambda d: (d[2], d[0]))


def expect_hangups(con, day):
    legs = fetch(con, "select source, status, coalesce(source_status, '(none)') as ss from marts.fct_cdr "
                      "where date_key = ?", day)
    groups = grouped(legs, lambda x: (x["source"], x["status"], x["ss"]), lambda x: (x["source"], ALL, ALL),
                     lambda x: (ALL, x["status"], ALL), lambda x: (ALL, ALL, ALL))
    return {k: {"legs": len(v), "share_of_source_pct": ratio(len(v), len(groups[(k[0], ALL, ALL)]))}
            for k, v in groups.items()}


def expect_cdrs_by_hour(con, day):
    legs = fetch(con, "select source, started_at from marts.fct_cdr where date_key = ?", day)
    groups = grouped(legs, lambda x: (x["source"], hour(x["started_at"])), lambda x: (ALL, hour(x["started_at"])))
    return {k: {"cdrs": len(v)} for k, v in groups.items()}


def expect_gaps(con, day) -> list[tuple]:
    weeks = [day - timedelta(days=7 * w) for w in range(1, 5)]
    legs = fetch(con, "select source, date_key, started_at from marts.fct_cdr where date_key in (?, ?, ?, ?, ?)",
                 day, *weeks)
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
        expected[(source,)] = {"cdrs": sum(x["date_key"] == day for x in mine),
                               "newest": utc_text(max(before_end)) if before_end else ""}
    return expected


def _n(items, field, value) -> int:
    return sum(i[field] == value for i in items)


FIGURES = {  # name: (keys, how to count it, measures and their kinds)
    "calls_by_direction": (("source", "direction"), expect_calls,
                           {"offered": COUNT, "answered": COUNT, "abandoned": COUNT, "answer_ratio_pct": PCT}),
    "answer_ratio_by_country": (("source", "country_code"), expect_countries,
                                {"calls": COUNT, "answered": COUNT, "answer_ratio_pct": PCT}),
    "incoming_by_hour": (("source", "hour_utc"), expect_incoming_by_hour, {"incoming_calls": COUNT, "answered": COUNT}),
    "agents": (("source", "agent_key"), expect_agents,
               {"answered_incoming": COUNT, "answered_outgoing": COUNT, "talk_seconds": COUNT}),
    "queues": (("source", "queue_id"), expect_queues,
               {"offered": COUNT, "answered": COUNT, "abandoned": COUNT, "service_level_20s_pct": PCT,
                "avg_speed_of_answer_seconds": SECONDS, "abandonment_rate_pct": PCT}),
    "hangup_causes": (("source", "status", "source_status"), expect_hangups,
                      {"legs": COUNT, "share_of_source_pct": PCT}),
    "cdrs_by_hour": (("source", "hour_utc"), expect_cdrs_by_hour, {"cdrs": COUNT}),
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
        assert text != "" and abs(float(text) - expected) <= slack, \
            f"{what}: expected {expected}, the report says {text!r}"


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
        known = {p: name in DATA_FIGURES or (bool(with_data[p]) if key[0] == ALL else key[0] in with_data[p])
                 for p in PERIODS}
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
        totals = sorted(((int(r["incoming_calls"]), int(r["hour_utc"])) for r in hours if r["source"] == ALL),
                        key=lambda x: (-x[0], x[1]))
        peaks = [h for calls, h in totals if calls > 0][:3]
        assert [int(r["hour_utc"]) for r in sorted((r for r in hours if r["peak_rank"]),
                                                      key=lambda r: int(r["peak_rank"]))] == peaks
        agents = [r for r in read_csv(directory / "agents.csv") if r["rank"]]
        assert [int(r["rank"]) for r in agents] == list(range(1, len(agents) + 1))
        order = [(-int(r["answered_incoming"]) - int(r["answered_outgoing"]), -int(r["talk_seconds"])) for r in agents]
        assert order == sorted(order)
        callbacks = [(r["caller_number"], r["abandoned_calls"], r["last_abandoned_at_utc"], r["longest_wait_seconds"])
                     for r in read_csv(directory / "callbacks.csv")]
        assert callbacks == expect_callbacks(con, day)
        gaps = [(r["source"], r["hour_utc"]) for r in read_csv(directory / "gaps.csv")]
        assert sorted(gaps) == expect_gaps(con, day)
        health = {r["source"]: r for r in read_csv(directory / "health.csv")}
        expected_health = expect_health(con, day)
        for source in SOURCES:
            assert int(health[source]["cdrs"]) == expected_health[(source,)]["cdrs"]
            assert health[source]["newest_cdr_at_utc"] == expected_health[(source,)]["newest"]
            gap_hours = sorted(int(h) for s, h in gaps if s == source)
            assert health[source]["gap_hours_utc"] == " ".join(f"{h:02d}" for h in gap_hours)
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
            "service_level_20s_pct": queues.get((ALL, ALL), {}).get("service_level_20s_pct"),
            "avg_speed_of_answer_seconds": queues.get((ALL, ALL), {}).get("avg_speed_of_answer_seconds"),
            "callbacks_due": len(expect_callbacks(con, on)),
        }
        for kpi, value in expected.items():
            same(headline[kpi][f"value{suffix}"], value, headline[kpi]["kind"], f"headline {kpi}{suffix}")


# --- the tests ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("day", [DEMO_DAY, DEMO_DAY + timedelta(days=1), DEMO_DAY + timedelta(days=7)],
                         ids=["demo-day", "day-after", "week-after"])
def test_every_figure_equals_the_warehouse(base, reports_root, day):
    # The day after and the week after compare an empty or near-empty day with the demo day.
    directory = report(base, reports_root, day, "demo")
    check_report(directory, base, day)


def test_the_demo_day_has_calls_in_every_section(base, reports_root):
    directory = report(base, reports_root, DEMO_DAY, "demo")
    rows = {name: read_csv(directory / f"{name}.csv") for name in FIGURES}
    assert all(int(r["offered"]) > 0 for r in rows["calls_by_direction"] if r["direction"] in ("inbound", "outbound")
               and r["source"] in SOURCES)
    assert rows["queues"] and read_csv(directory / "callbacks.csv") and rows["agents"]
    assert {r["state"] for r in read_csv(directory / "health.csv")} == {"ok"}


def test_a_day_without_calls_is_a_clear_report(base, reports_root):
    day = DEMO_DAY - timedelta(days=7)
    directory = report(base, reports_root, day, "empty")
    check_report(directory, base, day)
    page = (directory / "report.html").read_text()
    for sentence in ("No incoming calls on this day.", "No calls went through a queue on this day.",
                     "Nobody is waiting for a call back.", "No agent answered or talked on this day.",
                     "No outgoing calls on this day."):
        assert sentence in page
    health = {r["source"]: r for r in read_csv(directory / "health.csv")}
    # A week before the demo day the warehouse holds nothing yet from any source.
    assert {h["state"] for h in health.values()} == {"never"}
    assert read_csv(directory / "callbacks.csv") == [] and (directory / "callbacks.csv").read_text().startswith(
        "caller_number,")


def test_a_source_with_no_data_and_an_early_build(base, reports_root, tmp_path):
    # No PBX CDR at all, and a warehouse published half an hour after the day ended.
    path = derive(base, tmp_path / "no-pbx.duckdb", without_source("pbx"), published_at="2026-11-21 00:30:00+00")
    directory = report(path, reports_root, DEMO_DAY, "no-pbx")
    check_report(directory, path, DEMO_DAY)
    health = {r["source"]: r for r in read_csv(directory / "health.csv")}
    assert health["pbx"]["state"] == "never" and health["pbx"]["newest_cdr_at_utc"] == ""
    assert {s: health[s]["state"] for s in SOURCES if s != "pbx"} == {"kazoo": "ok", "enigma": "ok", "voicenter": "ok"}
    pbx = [r for r in read_csv(directory / "calls_by_direction.csv") if r["source"] == "pbx"]
    assert pbx and all(r["offered"] == "0" for r in pbx)
    page = html.unescape((directory / "report.html").read_text())
    assert "While1 PBX: never" in re.sub(r"<[^>]+>", "", page)
    assert "late calls may be missing" in page


def test_a_silent_source_and_a_gap_are_flagged(base, reports_root, tmp_path):
    path = derive(base, tmp_path / "history.duckdb", history())
    directory = report(path, reports_root, DEMO_DAY, "history")
    check_report(directory, path, DEMO_DAY)
    health = {r["source"]: r for r in read_csv(directory / "health.csv")}
    assert health["pbx"]["state"] == "silent" and health["pbx"]["cdrs_week_before"] != "0"
    assert health["kazoo"]["state"] == "gaps" and health["kazoo"]["gap_hours_utc"] == "10 11"
    page = html.unescape((directory / "report.html").read_text())
    assert "While1 PBX sent no CDRs on Fri 20 Nov" in page
    assert "KAZOO sent no CDRs in hour(s) 10 11 UTC" in page


def test_a_rerun_replaces_the_day_whole_and_leaves_nothing_behind(base, tmp_path):
    root = tmp_path / "reports"
    first = build_report(DEMO_DAY, warehouse=base, reports_root=root).directory
    (first / "stray.txt").write_text("left by an older version")
    before = hashlib.sha256((first / "queues.csv").read_bytes()).hexdigest()
    second = build_report(DEMO_DAY, warehouse=base, reports_root=root).directory
    assert second == first and not (second / "stray.txt").exists()
    assert hashlib.sha256((second / "queues.csv").read_bytes()).hexdigest() == before
    assert sorted(p.name for p in root.iterdir()) == [DEMO_DAY.isoformat()]


def test_the_report_only_reads_the_warehouse(base, tmp_path):
    # An analyst's session in another process holds it open read-only throughout; the file is unchanged after.
    analyst = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                               "c.execute('select count(*) from marts.fct_cdr'); print('open', flush=True); "
                               "sys.stdin.read()", str(base)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert analyst.stdout.readline().strip() == "open"
        digest = hashlib.sha256(base.read_bytes()).hexdigest()
        build_report(DEMO_DAY, warehouse=base, reports_root=tmp_path / "reports")
        assert hashlib.sha256(base.read_bytes()).hexdigest() == digest
    finally:
        analyst.communicate("", timeout=30)


def test_every_kpi_is_defined_in_the_footer_and_in_the_analysts_guide(base, reports_root):
    kpis = yaml.safe_load((ROOT / "include" / "reports" / "kpis.yml").read_text())
    page = html.unescape((report(base, reports_root, DEMO_DAY, "demo") / "report.html").read_text())
    guide = (ROOT / "docs" / "analysts.md").read_text()
    section = guide[guide.index("## Report KPIs"):]
    flat = " ".join(section.split())
    for kpi in kpis:
        assert f"<dt>{kpi['term']}</dt><dd>{kpi['definition']}</dd>" in page
        assert f"**{kpi['term']}**: {kpi['definition']}" in flat, \
            f"docs/analysts.md lacks {kpi['term']!r} as kpis.yml has it"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed with the project's helper when missing (never Playwright's downloads)."""
    path = shutil.which("chromium")
    if not path:
        subprocess.run([str(ROOT / "scripts" / "need.sh"), "chromium=chromium"], check=True)
        path = shutil.which("chromium")
    assert path, "chromium is missing and could not be installed: apt-get install chromium"
    return path


def test_the_page_in_a_real_browser(base, reports_root, chromium):
    from playwright.sync_api import sync_playwright

    directory = report(base, reports_root, DEMO_DAY, "demo")
    page_file = directory / "report.html"
    url = page_file.as_uri()
    source = page_file.read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in source
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|<script""", source)
    headline = {r["kpi"]: r for r in read_csv(directory / "headline.csv")}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            for name, viewport in (("phone", {"width": 390, "height": 844}),
                                   ("desktop", {"width": 1280, "height": 900})):
                page, problems, requests = watched_page(browser, viewport)
                page.goto(url, wait_until="load")
                page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
                assert problems == [] and requests == [url]
                # Fits the screen: no sideways scrolling of the page itself.
                assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                shown = dict(page.eval_on_selector_all(
                    "#headline .card", "cards => cards.map(c => [c.dataset.kpi, c.querySelector('.v').textContent])"))
                assert shown == {k: _card_text(r) for k, r in headline.items()}
                page.close()
        finally:
            browser.close()


def watched_page(browser, viewport: dict):
    """A new page, with the console errors, page errors and requests it will see."""
    page = browser.new_page(viewport=viewport)
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    return page, problems, requests


def _card_text(row: dict) -> str:
    if row["value"] == "":
        return "–"
    if row["kind"] == PCT:
        return f"{float(row['value']):.1f} %"
    if row["kind"] == SECONDS:
        return f"{float(row['value']):.0f} s"
    return f"{int(row['value']):,}"


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_dags_test_writes_and_mails_the_report(base, tmp_path, airflow_db, smtp_server):
    controller, received = smtp_server
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(base, data / "warehouse.duckdb")
    recipients = ["manager@example.com", "ops@example.com"]
    env = {
        **os.environ, "CDR_DATA_DIR": str(data),
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": controller.port,
            "extra": {"from_email": "cdr-reports@example.com", "disable_tls": True, "disable_ssl": True,
                      "retry_limit": 0, "timeout": 10}}),
        "AIRFLOW_VAR_CDR_REPORT_RECIPIENTS": json.dumps(recipients),
    }
    # The run at 2026-11-21 covers the day before: its data interval is 2026-11-20 (UTC).
    output = airflow(env, "dags", "test", "cdr_reports", "2026-11-21T00:00:00+00:00", log="reports-dags-test")
    directory = data / "reports" / "2026-11-20"
    assert (directory / "report.html").exists() and (directory / "headline.csv").exists()
    check_report(directory, data / "warehouse.duckdb", DEMO_DAY)
    assert "mailed the report for 2026-11-20" in output
    assert len(received.messages) == 1
    envelope = received.messages[0]
    assert envelope.rcpt_tos == recipients and envelope.mail_from == "cdr-reports@example.com"
    message = email.message_from_bytes(envelope.content)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        incoming = con.execute("select count(*) from marts.fct_call where date_key = ? and direction = 'inbound'",
                               [DEMO_DAY]).fetchone()[0]
    assert message["Subject"].startswith(f"Calls Fri 20 Nov 2026: {incoming} incoming")
    parts = {part.get_filename(): part for part in message.walk() if part.get_filename()}
    assert set(parts) == {"report.html", "callbacks.csv"}
    assert parts["report.html"].get_payload(decode=True) == (directory / "report.html").read_bytes()
    body = next(p for p in message.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "Incoming calls" in body and str(incoming) in body


# --- a first day, and the layout ---------------------------------------------------------------------------------

def only_the_demo_day() -> dict[str, str]:
    """The demo warehouse as on the first day it had data: nothing before (nor after) the demo day."""
    return {t: f"select * from demo.marts.{t} where date_key = DATE '{DEMO_DAY}'" for t in ("fct_cdr", "fct_call")}


@pytest.fixture(scope="module")
def first_day(base, reports_root, tmp_path_factory) -> Path:
    path = derive(base, tmp_path_factory.mktemp("first-day") / "warehouse.duckdb", only_the_demo_day())
    directory = report(path, reports_root, DEMO_DAY, "first-day")
    check_report(directory, path, DEMO_DAY)
    return directory


def test_a_first_day_says_no_data_where_a_comparison_day_has_none(first_day):
    headline = {r["kpi"]: r for r in read_csv(first_day / "headline.csv")}
    assert int(headline["incoming_calls"]["value"]) > 0
    for row in headline.values():
        for period in PERIODS:
            assert row[f"value_{period}"] == row[f"value_vs_{period}"] == "" and row[f"has_data_{period}"] == "false"
    whole = (first_day / "report.html").read_text()
    # Data health counts the CDRs themselves: there, a day before without any is a real zero.
    page, health = whole.split('<section id="health">', 1)
    assert health.count('class="cmp delta"') == len(SOURCES) and "no data" not in health
    changes = page.count('class="cmp delta"')
    assert changes > 20
    # Every change reads "no data" for both days, none is a signed number or coloured as better or worse.
    assert page.count('<span class="nodata" title="the day before: no data">no data</span>') == changes
    assert page.count('<span class="nodata" title="the same weekday a week before: no data">no data</span>') == changes
    deltas = re.findall(r'<span class="cmp delta">(.*?) ·&nbsp;(.*?)</span>(?=</|\s|<)', page)
    assert deltas and not [d for d in deltas if "+" in "".join(d) or "good" in "".join(d) or "bad" in "".join(d)]
    cards = re.findall(r'data-kpi="incoming_calls">.*?</div>', page, re.S)
    assert cards and "no data" in cards[0] and "+" not in re.sub(r"<[^>]+>", "", cards[0])


def test_a_normal_day_shows_changes_and_no_data_only_where_a_source_had_none(base, reports_root, tmp_path):
    path = derive(base, tmp_path / "history.duckdb", history())
    directory = report(path, reports_root, DEMO_DAY, "history-changes")
    with duckdb.connect(str(path), read_only=True) as con:
        week_before = sources_on(con, DEMO_DAY - timedelta(days=7))
    assert week_before == {"kazoo", "pbx"}
    rows = {(r["source"], r["direction"]): r for r in read_csv(directory / "calls_by_direction.csv")}
    assert rows[("kazoo", "inbound")]["has_data_week_before"] == "true"
    assert rows[("kazoo", "inbound")]["offered_vs_week_before"] != ""
    assert rows[("voicenter", "inbound")]["has_data_week_before"] == "false"
    assert rows[("voicenter", "inbound")]["offered_week_before"] == ""


def test_talk_time_changes_read_in_hours_and_minutes():
    from cdr.reporting.render import cmp

    row = {"talk_seconds_vs_day_before": 7620, "talk_seconds_day_before": 60,
           "talk_seconds_vs_week_before": -725, "talk_seconds_week_before": 8000}
    small = html.unescape(re.sub(r"<[^>]+>", "", str(cmp(row, "talk_seconds", "duration")))).replace("\u00a0", " ")
    assert small == "+2 h 07 m · −12 m 05 s"
    assert "the day before: 1 m 00 s" in str(cmp(row, "talk_seconds", "duration"))


# Run in the page: every change (.delta) on one line, every value cell no taller than its value line and its
# change line, and no header hyphenated or with a word split over two lines. The <details> are opened first, so
# that the tables inside them are laid out too.
LAYOUT_PROBLEMS = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const problems = [];
  const where = el => (el.closest('section, dl') || {}).id + ': ' + el.textContent.trim().slice(0, 40);
  const lineHeight = el => parseFloat(getComputedStyle(el).lineHeight);
  for (const el of document.querySelectorAll('.cmp.delta')) {
    const height = el.getBoundingClientRect().height;
    if (height > 1.5 * lineHeight(el)) problems.push(`change wraps (${height}px): ${where(el)}`);
  }
  for (const td of document.querySelectorAll('td')) {
    if (td.matches(':first-child') || td.classList.contains('text') || !td.textContent.trim()) continue;
    // The height of what the cell holds (the row may be taller: a label in the first column that wraps).
    const range = document.createRange();
    range.selectNodeContents(td);
    const inner = range.getBoundingClientRect().height;
    const note = td.querySelector('.cmp');
    const lines = lineHeight(td) + (note ? lineHeight(note) : 0);
    if (inner > lines + 2) problems.push(`cell wraps (${inner}px > ${lines}px): ${where(td)}`);
  }
  for (const th of document.querySelectorAll('th')) {
    if (th.textContent.includes('\\u00ad')) problems.push(`soft hyphen in header: ${where(th)}`);
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode, words = /\\S+/g;
      let m;
      while ((m = words.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length > 1) problems.push(`header word split: ${m[0]} in ${where(th)}`);
      }
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("which", ["demo", "first-day"])
def test_tables_lay_out_without_wrapping_at_phone_and_desktop_widths(base, reports_root, first_day, chromium, which):
    from playwright.sync_api import sync_playwright

    directory = report(base, reports_root, DEMO_DAY, "demo") if which == "demo" else first_day
    url = (directory / "report.html").as_uri()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        try:
            for width in (390, 1280):
                page, problems, _ = watched_page(browser, {"width": width, "height": 900})
                page.goto(url, wait_until="load")
                found = page.evaluate(LAYOUT_PROBLEMS)
                page.screenshot(path=str(ARTIFACTS / f"report-layout-{which}-{width}.png"), full_page=True)
                assert problems == []
                assert found == [], f"{which} at {width} px:\n" + "\n".join(found)
                # The page itself never scrolls sideways; a wide table scrolls inside its own box.
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                assert page.evaluate("document.querySelectorAll('.cmp.delta').length") > 20
                page.close()
        finally:
            browser.close()


def test_a_data_health_check_is_one_more_row_of_that_section(base, tmp_path):
    from cdr.reporting.build import HealthCheck

    check = HealthCheck("unpriced_legs", "Legs without a price", "legs whose source sent no price",
                        "select source, count(*) as n from marts.fct_cdr where date_key = $day "
                        "and price_minor_units is null group by source")
    directory = build_report(DEMO_DAY, warehouse=base, reports_root=tmp_path / "reports",
                             health_checks=(check,)).directory
    with duckdb.connect(str(base), read_only=True) as con:
        expected = dict(con.execute("select source, count(*) from marts.fct_cdr where date_key = ? "
                                    "and price_minor_units is null group by source", [DEMO_DAY]).fetchall())
    rows = read_csv(directory / "health_checks.csv")
    assert {r["source"]: int(r["n"]) for r in rows} == {s: expected.get(s, 0) for s in SOURCES}
    page = (directory / "report.html").read_text()
    row = re.search(r'<tr data-check="unpriced_legs">(.*?)</tr>', page, re.S).group(1)
    assert "Legs without a price" in row
    assert [int(n.replace(",", "")) for n in re.findall(r"<td>([\d,]+)</td>", row)] == \
        [expected.get(s, 0) for s in SOURCES]


def test_the_call_back_list_can_be_masked(base, reports_root, monkeypatch):
    plain = read_csv(report(base, reports_root, DEMO_DAY, "unmasked") / "callbacks.csv")
    assert plain and all(r["caller_number"].startswith("+") and "*" not in r["caller_number"] for r in plain)
    monkeypatch.setenv("CDR_REPORT_MASK_NUMBERS", "1")
    directory = report(base, reports_root, DEMO_DAY, "masked")
    masked = read_csv(directory / "callbacks.csv")
    page = (directory / "report.html").read_text()
    assert [r["caller_number"] for r in masked] == [
        r["caller_number"][:4] + "*" * (len(r["caller_number"]) - 6) + r["caller_number"][-2:] for r in plain]
    for r in plain:
        assert r["caller_number"] not in page and f'tel:{r["caller_number"]}' not in page
