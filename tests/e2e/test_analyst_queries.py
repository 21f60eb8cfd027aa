"""Every example query of docs/analysts.md, checked against an answer computed here, in Python, from the
demo warehouse's legs (and fct_call against the legs it is made of), by the definitions the document gives."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import VOICENTER
from tests.e2e.test_demo_warehouse import QUERIES

pytestmark = pytest.mark.e2e


def records(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def ratio(part: int, whole: int) -> float:
    return 100.0 * part / whole


def assert_rows(actual: list[tuple], expected: list[tuple]) -> None:
    """Same rows, numbers equal up to the queries' rounding to one decimal (the expected ones unrounded: SQL
    rounds 6.25 up, Python's round() to 6.2)."""
    assert len(actual) == len(expected)
    remaining = Counter(tuple(r) for r in expected)
    for row in actual:
        match = next(
            (
                e
                for e in remaining
                if remaining[e]
                and all(
                    abs(a - b) <= 0.051 if isinstance(b, float) and a is not None else a == b for a, b in zip(row, e)
                )
            ),
            None,
        )
        assert match is not None, f"unexpected row {row}"
        remaining[match] -= 1


@pytest.fixture(scope="module")
def model(warehouse):
    legs = records(warehouse, "select * from marts.fct_cdr")
    calls = records(warehouse, "select * from marts.fct_call")
    agents = {a["agent_key"]: a for a in records(warehouse, "select * from marts.dim_agent")}
    queues = {q["queue_key"]: q for q in records(warehouse, "select * from marts.dim_queue")}
    countries = {c["country_code"]: c for c in records(warehouse, "select * from marts.dim_country")}
    return legs, calls, agents, queues, countries


def test_fct_call_follows_its_legs(model):
    legs, calls, agents, _, _ = model
    by_call = defaultdict(list)
    for leg in legs:
        by_call[leg["call_key"]].append(leg)
    assert {c["call_key"] for c in calls} == set(by_call)
    for call in calls:
        mine = sorted(by_call[call["call_key"]], key=lambda leg: leg["started_at"])
        statuses = {leg["status"] for leg in mine}
        assert call["legs"] == len(mine)
        # a leg whose time is only estimated (an Enigma click-to-dial) dates the call only when no leg is timed
        timed = [leg for leg in mine if not leg["started_at_estimated"]]
        assert call["started_at"] == (timed or mine)[0]["started_at"]
        assert call["started_at_estimated"] == (not timed)
        assert call["ended_at"] == max(leg["ended_at"] for leg in mine)
        if "answered" in statuses:
            assert call["outcome"] == "answered"
            answering = {leg["agent_key"] for leg in mine if leg["status"] == "answered" and leg["agent_key"]}
            assert call["answered_by_agent_key"] in (answering or {None})
        elif "abandoned" in statuses:
            assert call["outcome"] == "abandoned"
        elif len(mine) == 1 or mine[-1]["started_at"] != mine[-2]["started_at"]:
            assert call["outcome"] == mine[-1]["status"]
        assert call["answered_by_agent_key"] is None or call["answered_by_agent_key"] in agents


def agent_label(agent: dict) -> str:
    return agent["agent_name"] or agent["agent_id"]


@pytest.mark.parametrize("number, direction", [("1", "inbound"), ("2", "outbound")])
def test_agents_ranked_by_answered_calls(warehouse, model, number, direction):
    _, calls, agents, _, _ = model
    expected = Counter(
        (agents[c["answered_by_agent_key"]]["source"], agent_label(agents[c["answered_by_agent_key"]]))
        for c in calls
        if c["direction"] == direction and c["outcome"] == "answered" and c["answered_by_agent_key"]
    )
    actual = warehouse.execute(QUERIES[number]).fetchall()
    assert_rows(actual, [(*key, n) for key, n in expected.items()])
    assert [row[2] for row in actual] == sorted((row[2] for row in actual), reverse=True)


def test_answer_ratio_by_country_of_outgoing_calls(warehouse, model):
    _, calls, _, _, countries = model
    tally = defaultdict(lambda: [0, 0])
    for c in calls:
        if c["direction"] == "outbound" and c["remote_country_code"]:
            name = countries[c["remote_country_code"]]["country_name"]
            tally[name][0] += 1
            tally[name][1] += c["outcome"] == "answered"
    expected = [(name, n, a, ratio(a, n)) for name, (n, a) in tally.items()]
    assert expected, "the demo has outgoing calls abroad"
    assert_rows(warehouse.execute(QUERIES["3"]).fetchall(), expected)


def test_peak_hours_of_incoming_calls(warehouse, model):
    _, calls, _, _, _ = model
    expected = Counter(c["started_at"].astimezone(UTC).hour for c in calls if c["direction"] == "inbound")
    actual = warehouse.execute(QUERIES["4"]).fetchall()
    assert_rows(actual, [(hour, f"{hour:02d}:00-{(hour + 1) % 24:02d}:00 UTC", n) for hour, n in expected.items()])
    assert actual[0][2] == max(expected.values())


def test_abandoned_callers_not_called_back(warehouse, model):
    legs, _, _, _, _ = model
    abandoned = defaultdict(list)
    for leg in legs:
        if leg["direction"] == "inbound" and leg["status"] == "abandoned" and leg["queue_key"]:
            abandoned[leg["caller_number"]].append(leg)
    expected = []
    for number, mine in abandoned.items():
        first = min(leg["started_at"] for leg in mine)
        called_back = any(
            leg["direction"] == "outbound" and leg["callee_number"] == number and leg["started_at"] > first
            for leg in legs
        )
        if not called_back:
            waits = [leg["queue_wait_seconds"] for leg in mine if leg["queue_wait_seconds"] is not None]
            expected.append((number, first, max(waits) if waits else None))
    assert expected, "the demo has callers who abandoned in a queue"
    assert_rows(warehouse.execute(QUERIES["5"]).fetchall(), expected)


def test_queue_service_level_speed_of_answer_and_abandonment(warehouse, model):
    _, calls, _, queues, _ = model
    per_queue = defaultdict(list)
    for c in calls:
        if c["queue_key"]:
            per_queue[c["queue_key"]].append(c)
    expected = []
    for key, mine in per_queue.items():
        q = queues[key]
        answered = [c for c in mine if c["outcome"] == "answered"]
        waits = [c["queue_wait_seconds"] or 0 for c in answered]
        abandoned = sum(c["outcome"] == "abandoned" for c in mine)
        # a short abandon: abandoned after a known wait under 5 s (the documented default)
        short = sum(
            c["outcome"] == "abandoned" and c["queue_wait_seconds"] is not None and c["queue_wait_seconds"] < 5
            for c in mine
        )
        kept = len(mine) - short
        expected.append(
            (
                q["source"],
                q["queue_name"],
                q["queue_type"],
                len(mine),
                len(answered),
                abandoned,
                short,
                ratio(sum(w <= 20 for w in waits), kept) if kept else None,
                sum(waits) / len(waits) if waits else None,
                ratio(abandoned - short, kept) if kept else None,
            )
        )
    assert_rows(warehouse.execute(QUERIES["6"]).fetchall(), expected)


def test_answer_seizure_ratio_and_talk_time_by_source(warehouse, model):
    _, calls, _, _, _ = model
    expected = []
    for source in sorted({c["source"] for c in calls}):
        mine = [c for c in calls if c["source"] == source]
        talk = [c["talk_seconds"] for c in mine if c["outcome"] == "answered" and c["talk_seconds"] is not None]
        expected.append(
            (
                source,
                len(mine),
                ratio(sum(c["outcome"] == "answered" for c in mine), len(mine)),
                sum(talk) / len(talk) if talk else None,
            )
        )
    actual = warehouse.execute(QUERIES["7"]).fetchall()
    assert_rows(actual, expected)
    assert [row[0] for row in actual] == sorted(row[0] for row in actual)


def test_calls_per_day_and_source(warehouse, model):
    _, calls, _, _, _ = model
    expected = Counter((c["date_key"], c["date_key"].strftime("%A"), c["source"]) for c in calls)
    assert_rows(warehouse.execute(QUERIES["8"]).fetchall(), [(*k, n) for k, n in expected.items()])


def test_how_calls_end_as_each_source_says(warehouse, model):
    legs, _, _, _, _ = model
    expected = Counter((leg["source"], leg["source_status"], leg["status"]) for leg in legs)
    actual = warehouse.execute(QUERIES["9"]).fetchall()
    assert_rows(actual, [(*k, n) for k, n in expected.items()])
    # Voicenter's statuses as Voicenter sent them
    sent = Counter(c["status"] for c in VOICENTER)
    assert {row[1]: row[3] for row in actual if row[0] == "voicenter"} == dict(sent)


def test_talk_time_per_agent_and_day(warehouse, model):
    legs, _, agents, _, _ = model
    tally = defaultdict(lambda: [0, None])
    for leg in legs:
        if leg["agent_key"]:
            agent = agents[leg["agent_key"]]
            row = tally[(leg["date_key"], agent["source"], agent_label(agent))]
            row[0] += leg["status"] == "answered"
            if leg["talk_seconds"] is not None:
                row[1] = (row[1] or 0) + leg["talk_seconds"]
    assert_rows(warehouse.execute(QUERIES["10"]).fetchall(), [(*k, a, t) for k, (a, t) in tally.items()])


def test_dialer_campaign_results(warehouse, model):
    _, calls, _, queues, _ = model
    tally = defaultdict(Counter)
    for c in calls:
        if c["queue_key"] and queues[c["queue_key"]]["queue_type"] == "campaign":
            tally[queues[c["queue_key"]]["queue_name"]].update(["calls", c["outcome"]])
    expected = [(name, t["calls"], t["answered"], t["voicemail"], t["abandoned"]) for name, t in tally.items()]
    assert expected, "the demo has Enigma campaigns"
    assert_rows(warehouse.execute(QUERIES["11"]).fetchall(), expected)


def test_incoming_calls_per_local_hour(warehouse, model):
    _, calls, _, _, _ = model
    # the demo's call centre is on the default clock, UTC (CDR_SITE_TIMEZONE unset)
    zone = ZoneInfo(os.environ.get("CDR_SITE_TIMEZONE") or "UTC")
    expected = Counter()
    for c in calls:
        if c["direction"] == "inbound":
            local = c["started_at"].astimezone(zone)
            expected[(local.date(), f"{local.hour:02d}:00-{(local.hour + 1) % 24:02d}:00")] += 1
    assert expected, "the demo has incoming calls"
    assert_rows(warehouse.execute(QUERIES["12"]).fetchall(), [(*key, n) for key, n in expected.items()])


def test_carrier_kpis_by_route(warehouse, model):
    legs, calls, _, _, _ = model
    declined = {leg["call_key"] for leg in legs if leg["sip_code"] in (603, 607, 608)}
    completed = {"answered", "busy", "no_answer", "voicemail", "abandoned"}
    groups = defaultdict(list)
    for c in calls:
        if c["direction"] in ("inbound", "outbound"):
            groups[(c["source"], c["route"] or "(none)", c["direction"])].append(c)
    expected = []
    for key, group in groups.items():
        answered = [c for c in group if c["outcome"] == "answered"]
        effective = [
            c for c in group if c["outcome"] in completed or (c["outcome"] == "failed" and c["call_key"] in declined)
        ]
        talk = sum(c["talk_seconds"] or 0 for c in answered)
        expected.append(
            (
                *key,
                len(group),
                ratio(len(answered), len(group)),
                ratio(len(effective), len(group)),
                talk / len(answered) if answered else None,
            )
        )
    assert any(key[1] == "trunk-demo" for key in groups), "the demo's PBX names its trunk"
    assert_rows(warehouse.execute(QUERIES["13"]).fetchall(), expected)


def test_repeat_callers_call_backs_and_fcr_per_day(warehouse, model):
    _, calls, _, _, _ = model
    zone = ZoneInfo(os.environ.get("CDR_SITE_TIMEZONE") or "UTC")
    # the documented defaults: a 24 h repeat window, a 7-day FCR window
    window, fcr_window = timedelta(hours=24), timedelta(days=7)
    numbered = [
        c
        for c in calls
        if c["direction"] in ("inbound", "outbound")
        and c["remote_number"]
        and any(ch.isdigit() for ch in c["remote_number"])
    ]
    tally = defaultdict(lambda: [0, 0, 0, 0, 0])
    for c in numbered:
        if c["direction"] != "inbound":
            continue
        later = [o for o in numbered if o["remote_number"] == c["remote_number"] and o["started_at"] > c["started_at"]]
        again = min((o["started_at"] for o in later if o["direction"] == "inbound"), default=None)
        back = min((o["started_at"] for o in later if o["direction"] == "outbound"), default=None)
        row = tally[c["started_at"].astimezone(zone).date()]
        if c["outcome"] != "answered":
            row[0] += 1
            if again is not None and again - c["started_at"] < window:
                row[1] += 1
                row[2] += back is not None and back < again
        else:
            row[3] += 1
            row[4] += again is None or again - c["started_at"] >= fcr_window
    expected = [(day, m, r, b, ratio(f, a) if a else None) for day, (m, r, b, a, f) in tally.items()]
    assert any(r for _, _, r, _, _ in expected), "the demo has repeat callers"
    assert_rows(warehouse.execute(QUERIES["14"]).fetchall(), expected)


def test_agents_per_week(warehouse, model):
    legs, calls, agents, _, _ = model
    zone = ZoneInfo(os.environ.get("CDR_SITE_TIMEZONE") or "UTC")
    tally = defaultdict(lambda: [0, 0, 0, 0])  # handled, handle seconds, answered legs, missed

    def key(agent_key, started_at):
        agent = agents[agent_key]
        return (started_at.astimezone(zone).date().isocalendar()[1], agent["source"], agent_label(agent))

    for c in calls:
        if c["answered_by_agent_key"]:
            tally[key(c["answered_by_agent_key"], c["started_at"])][0] += 1
    for leg in legs:
        if not leg["agent_key"]:
            continue
        row = tally[key(leg["agent_key"], leg["started_at"])]
        if leg["status"] == "answered":
            row[1] += (leg["talk_seconds"] or 0) + (leg["ring_seconds"] or 0)
            row[2] += 1
        row[3] += leg["status"] in ("no_answer", "cancelled", "abandoned")
    expected = [(*k, h, s / n if n else None, m) for k, (h, s, n, m) in tally.items()]
    assert any(m for *_, m in expected), "the demo has calls that rang an agent unanswered"
    assert_rows(warehouse.execute(QUERIES["15"]).fetchall(), expected)


def test_every_example_query_is_checked_here():
    checked = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"}
    assert set(QUERIES) == checked, "a new example query in docs/analysts.md needs its check in this file"
