"""The daily report (cdr_reports) on the four-source demo warehouse and on warehouses derived from it: every CSV
it writes against the figures tests/e2e/report_oracle.py counts itself, and what the page says in words.
The page in a browser is in test_reports_browser.py, the mail in test_reports_mail.py.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
import yaml

from cdr.reporting.build import build_report
from tests.conftest import ROOT
from tests.e2e.report_oracle import (  # noqa: F401 (base, reports_root, first_day: fixtures)
    DEMO_DAY,
    FIGURES,
    PERIODS,
    SOURCES,
    base,
    check_report,
    derive,
    first_day,
    history,
    read_csv,
    report,
    reports_root,
    sources_on,
    without_source,
)

pytestmark = pytest.mark.e2e


# --- the tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [DEMO_DAY, DEMO_DAY + timedelta(days=1), DEMO_DAY + timedelta(days=7)],
    ids=["demo-day", "day-after", "week-after"],
)
def test_every_figure_equals_the_warehouse(base, reports_root, day):
    # The day after and the week after compare an empty or near-empty day with the demo day.
    directory = report(base, reports_root, day, "demo")
    check_report(directory, base, day)


def test_the_demo_day_has_calls_in_every_section(base, reports_root):
    directory = report(base, reports_root, DEMO_DAY, "demo")
    rows = {name: read_csv(directory / f"{name}.csv") for name in FIGURES}
    assert all(
        int(r["offered"]) > 0
        for r in rows["calls_by_direction"]
        if r["direction"] in ("inbound", "outbound") and r["source"] in SOURCES
    )
    assert rows["queues"] and read_csv(directory / "callbacks.csv") and rows["agents"]
    assert {r["state"] for r in read_csv(directory / "health.csv")} == {"ok"}


def test_a_day_without_calls_is_a_clear_report(base, reports_root):
    day = DEMO_DAY - timedelta(days=7)
    directory = report(base, reports_root, day, "empty")
    check_report(directory, base, day)
    page = (directory / "report.html").read_text()
    for sentence in (
        "No incoming calls on this day.",
        "No calls went through a queue on this day.",
        "Nobody is waiting for a call back.",
        "No agent answered or talked on this day.",
        "No outgoing calls on this day.",
    ):
        assert sentence in page
    health = {r["source"]: r for r in read_csv(directory / "health.csv")}
    # A week before the demo day the warehouse holds nothing yet from any source.
    assert {h["state"] for h in health.values()} == {"never"}
    assert read_csv(directory / "callbacks.csv") == [] and (directory / "callbacks.csv").read_text().startswith(
        "caller_number,"
    )


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
    assert health["kazoo"]["state"] == "gaps" and health["kazoo"]["gap_hours"] == "10 11"
    page = html.unescape((directory / "report.html").read_text())
    assert "While1 PBX sent no CDRs on Fri 20 Nov" in page
    assert "KAZOO sent no CDRs in hour(s) 10 11," in page


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
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "c.execute('select count(*) from marts.fct_cdr'); print('open', flush=True); "
            "sys.stdin.read()",
            str(base),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
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
    section = guide[guide.index("## Report KPIs") :]
    flat = " ".join(section.split())
    for kpi in kpis:
        assert f"<dt>{kpi['term']}</dt><dd>{kpi['definition']}</dd>" in page
        assert f"**{kpi['term']}**: {kpi['definition']}" in flat, (
            f"docs/analysts.md lacks {kpi['term']!r} as kpis.yml has it"
        )


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

    row = {
        "talk_seconds_vs_day_before": 7620,
        "talk_seconds_day_before": 60,
        "talk_seconds_vs_week_before": -725,
        "talk_seconds_week_before": 8000,
    }
    small = html.unescape(re.sub(r"<[^>]+>", "", str(cmp(row, "talk_seconds", "duration")))).replace("\u00a0", " ")
    assert small == "+2 h 07 m · −12 m 05 s"
    assert "the day before: 1 m 00 s" in str(cmp(row, "talk_seconds", "duration"))


def test_a_data_health_check_is_one_more_row_of_that_section(base, tmp_path):
    from cdr.reporting.build import HealthCheck

    check = HealthCheck(
        "unpriced_legs",
        "Legs without a price",
        "legs whose source sent no price",
        "select source, count(*) as n from marts.fct_cdr where date_key = $day "
        "and price_minor_units is null group by source",
    )
    directory = build_report(
        DEMO_DAY, warehouse=base, reports_root=tmp_path / "reports", health_checks=(check,)
    ).directory
    with duckdb.connect(str(base), read_only=True) as con:
        expected = dict(
            con.execute(
                "select source, count(*) from marts.fct_cdr where date_key = ? "
                "and price_minor_units is null group by source",
                [DEMO_DAY],
            ).fetchall()
        )
    rows = read_csv(directory / "health_checks.csv")
    assert {r["source"]: int(r["n"]) for r in rows} == {s: expected.get(s, 0) for s in SOURCES}
    page = (directory / "report.html").read_text()
    row = re.search(r'<tr data-check="unpriced_legs">(.*?)</tr>', page, re.S).group(1)
    assert "Legs without a price" in row
    assert [int(n.replace(",", "")) for n in re.findall(r"<td>([\d,]+)</td>", row)] == [
        expected.get(s, 0) for s in SOURCES
    ]


def test_the_masked_report_is_the_report_of_the_masked_copy(base, reports_root, tmp_path, monkeypatch):
    """CDR_REPORT_MASK_NUMBERS makes the report from warehouse_masked.duckdb: every figure is that copy's, the
    call-back list shows each number as its salted hash, with no link to dial it, and nothing is counted
    differently. (That no planted number reaches it is tests/e2e/test_masking_planted.py.)"""
    from cdr.warehouse.masking import masked_path, publish_masked

    plain_dir = report(base, reports_root, DEMO_DAY, "unmasked")
    plain = read_csv(plain_dir / "callbacks.csv")
    assert plain and all(r["caller_number"].startswith("+") for r in plain)
    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path / "data"))
    publish_masked(base, salt="oracle-salt")
    monkeypatch.setenv("CDR_REPORT_MASK_NUMBERS", "1")
    directory = build_report(DEMO_DAY, reports_root=reports_root / "masked").directory
    check_report(directory, masked_path(), DEMO_DAY)
    masked = read_csv(directory / "callbacks.csv")
    assert [r["caller_number"] for r in masked] == [
        "h:" + hashlib.sha256(f"oracle-salt:{r['caller_number']}".encode()).hexdigest()[:16] for r in plain
    ]
    page = (directory / "report.html").read_text()
    for r in plain:
        assert r["caller_number"] not in page
    assert "tel:" not in page and "tel:" in (plain_dir / "report.html").read_text()
    for name in ("headline", "calls_by_direction", "incoming_by_hour", "agents", "hangup_causes"):
        assert read_csv(directory / f"{name}.csv") == read_csv(plain_dir / f"{name}.csv"), name


# The demo day moved to Sunday 25 October 2026, when Bucharest's clocks go back at 04:00 EEST (01:00 UTC): that
# business day runs from 21:00 UTC on the 24th to 22:00 UTC on the 25th, 25 hours (written out by hand, as is the
# local hour of each UTC hour below: UTC+3 before 01:00 UTC, UTC+2 after).
DST_DAY = DEMO_DAY - timedelta(days=26)
DST_WINDOW = (datetime(2026, 10, 24, 21, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC))
SHIFT_SECONDS = 26 * 86400


def bucharest_local_hour(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return (utc.hour + (3 if utc < datetime(2026, 10, 25, 1, tzinfo=UTC) else 2)) % 24


def moved_to_the_dst_day() -> dict[str, str]:
    local = f"timezone('Europe/Bucharest', f.started_at - to_seconds({SHIFT_SECONDS}))"
    moved = (
        f"f.started_at - to_seconds({SHIFT_SECONDS}) as started_at, f.ended_at - to_seconds({SHIFT_SECONDS}) as "
        f"ended_at, f.date_key - 26 as date_key, 'Europe/Bucharest' as local_timezone, {local} as started_at_local, "
        f"cast({local} as date) as local_date, hour({local}) as local_hour"
    )
    return {t: f"select f.* replace ({moved}) from demo.marts.{t} f" for t in ("fct_cdr", "fct_call")}


def test_a_business_day_across_a_daylight_saving_change(base, reports_root, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CDR_SITE_TIMEZONE", "Europe/Bucharest")
    path = derive(base, tmp_path_factory.mktemp("dst") / "warehouse.duckdb", moved_to_the_dst_day())
    directory = report(path, reports_root, DST_DAY, "dst")
    assert directory.name == "2026-10-25"
    with duckdb.connect(str(path), read_only=True) as con:
        calls = con.execute("select direction, started_at from marts.fct_call").fetchall()
    in_day = [(d, t) for d, t in calls if DST_WINDOW[0] <= t < DST_WINDOW[1]]
    # the window is not the UTC day: the moved demo day's calls after 22:00 UTC belong to the next business day
    assert 0 < len(in_day) < len(calls)
    directions = {(r["source"], r["direction"]): r for r in read_csv(directory / "calls_by_direction.csv")}
    assert int(directions[("all", "all")]["offered"]) == len(in_day)
    expected_hours = Counter(bucharest_local_hour(t) for d, t in in_day if d == "inbound")
    hours = {
        int(r["hour"]): int(r["incoming_calls"])
        for r in read_csv(directory / "incoming_by_hour.csv")
        if r["source"] == "all"
    }
    assert hours == {h: expected_hours.get(h, 0) for h in range(24)}
    # 03:00 on the clock happened twice: its row holds both hours
    twice = [
        t
        for d, t in in_day
        if d == "inbound" and datetime(2026, 10, 25, tzinfo=UTC) <= t < datetime(2026, 10, 25, 2, tzinfo=UTC)
    ]
    assert hours[3] == len(twice)
    page = (directory / "report.html").read_text()
    assert "Business day in Europe/Bucharest" in page and "Sunday 25 October 2026" in page


def test_repeat_callers_and_fcr_equal_the_calls(base, reports_root):
    """The repeat-caller figure of the demo day against the calls, counted here by the documented defaults (a 24 h
    repeat window, a 7-day FCR window, short abandons under 5 s of a known wait)."""
    directory = report(base, reports_root, DEMO_DAY, "demo")
    with duckdb.connect(str(base), read_only=True) as con:
        cursor = con.execute(
            "select source, direction, outcome, remote_number, started_at, date_key, queue_wait_seconds "
            "from marts.fct_call where direction in ('inbound', 'outbound')"
        )
        names = [d[0] for d in cursor.description]
        calls = [dict(zip(names, row)) for row in cursor.fetchall()]
    numbered = [c for c in calls if c["remote_number"] and any(ch.isdigit() for ch in c["remote_number"])]
    tally = {s: Counter() for s in ["all", *SOURCES]}
    for c in numbered:
        if c["direction"] != "inbound" or c["date_key"] != DEMO_DAY:
            continue
        later = [o for o in numbered if o["remote_number"] == c["remote_number"] and o["started_at"] > c["started_at"]]
        again = min((o["started_at"] for o in later if o["direction"] == "inbound"), default=None)
        back = min((o["started_at"] for o in later if o["direction"] == "outbound"), default=None)
        for key in ("all", c["source"]):
            t = tally[key]
            t["incoming_calls"] += 1
            if c["outcome"] == "answered":
                t["answered"] += 1
                t["resolved"] += again is None or again - c["started_at"] >= timedelta(days=7)
                continue
            t["missed"] += 1
            wait = c["queue_wait_seconds"]
            t["short_abandons"] += c["outcome"] == "abandoned" and wait is not None and wait < 5
            if again is not None and again - c["started_at"] < timedelta(hours=24):
                t["repeat_callers"] += 1
                t["called_back_first"] += back is not None and back < again
    rows = {r["source"]: r for r in read_csv(directory / "repeat_callers.csv")}
    assert set(rows) == set(tally)
    assert tally["all"]["repeat_callers"] > 0, "the demo has repeat callers"

    def pct(part, whole):
        return "" if not whole else 100.0 * part / whole

    for source, t in tally.items():
        row = rows[source]
        for count in ("incoming_calls", "missed", "short_abandons", "repeat_callers"):
            assert int(row[count]) == t[count], (source, count)
        for name, expected in (
            ("repeat_caller_pct", pct(t["repeat_callers"], t["missed"])),
            ("called_back_first_pct", pct(t["called_back_first"], t["repeat_callers"])),
            ("fcr_pct", pct(t["resolved"], t["answered"])),
        ):
            assert (row[name] == "") if expected == "" else abs(float(row[name]) - expected) <= 0.0501, (source, name)
