"""End to end with the real Airflow CLI and dbt: a Redis the dialer pushed to -> enigma_cdrs -> cdr_warehouse."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import redis

from launch import start_redis
from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow

pytestmark = pytest.mark.e2e
MESSAGES = ROOT / "include" / "demo_data" / "enigma_messages.jsonl"
KEYS = ["enigma:notifications:campaigns", "enigma:notifications:c2d"]


def expected_call_refs() -> tuple[set[str], int]:
    refs, poison = set(), 0
    for line in MESSAGES.read_bytes().splitlines():
        _, raw = line.split(b"\t", 1)
        try:
            message = json.loads(raw)
        except ValueError:
            poison += 1
            continue
        if "notifications" in message:
            refs |= {n["call_ref"] for n in message["notifications"]}
        elif message.get("type") == "cdr":
            refs.add(message["payload"]["call_ref"])
    return refs, poison


def expected_calls() -> dict[str, set[str]]:
    """The source_cdr_ids of each Enigma call, from the messages: a campaign CDR is a call of its own; the
    notifications of one c2d message are one click-to-dial, keyed by the first one's call_ref (the demo's
    call_refs are all distinct)."""
    calls = {}
    for line in MESSAGES.read_bytes().splitlines():
        try:
            message = json.loads(line.split(b"\t", 1)[1])
        except ValueError:
            continue
        if "notifications" in message:
            refs = [n["call_ref"] for n in message["notifications"]]
            calls[refs[0]] = set(refs)
        elif message.get("type") == "cdr":
            calls[message["payload"]["call_ref"]] = {message["payload"]["call_ref"]}
    return calls


def timed_days(tz_name: str = "Africa/Johannesburg") -> set[date]:
    """The UTC days of the campaign CDRs' dialed_at, in the three shapes the dialer sends."""
    days = set()
    for line in MESSAGES.read_bytes().splitlines():
        try:
            message = json.loads(line.split(b"\t", 1)[1])
        except ValueError:
            continue
        if message.get("type") != "cdr":
            continue
        dialed = message["payload"]["dialed_at"]
        if isinstance(dialed, int):
            moment = datetime.fromtimestamp(dialed, UTC)
        else:
            moment = datetime.fromisoformat(dialed)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(tz_name))
        days.add(moment.astimezone(UTC).date())
    return days


def test_drained_cdrs_reach_the_warehouse_exactly(tmp_path, airflow_db):
    data = tmp_path / "data"
    with start_redis() as server:
        client = redis.Redis(port=server.port)
        for line in MESSAGES.read_bytes().splitlines():
            key, raw = line.split(b"\t", 1)
            client.lpush(key, raw)
        env = {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "AIRFLOW_CONN_ENIGMA_DEFAULT": json.dumps(
                {
                    "conn_type": "redis",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "extra": {"db": 0, "keys": KEYS, "timezone": "Africa/Johannesburg"},
                }
            ),
        }
        airflow(env, "dags", "test", "enigma_cdrs", "2026-11-21T00:00:00+00:00", log="enigma-drain")
        assert [client.llen(key) for key in KEYS] == [0, 0]
    airflow(env, "dags", "test", "cdr_warehouse", "2026-11-21T00:00:00+00:00", log="enigma-build")
    refs, poison = expected_call_refs()
    with duckdb.connect(str(Path(data) / "warehouse.duckdb"), read_only=True) as con:
        got = [r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr where source = 'enigma'").fetchall()]
        assert sorted(got) == sorted(refs)
        abandoned = con.execute(
            "select count(*) from marts.fct_cdr where status = 'abandoned' and agent_key is null"
        ).fetchone()[0]
        assert abandoned > 0
        # Click-to-dial: no time in the payload, so the drain's, flagged; the a/b legs of one message are one call.
        c2d = {
            n["call_ref"]
            for line in MESSAGES.read_bytes().splitlines()
            if b'"notifications"' in line
            for n in json.loads(line.split(b"\t", 1)[1])["notifications"]
        }
        estimated = con.execute(
            "select source_cdr_id, started_at, extracted_at from marts.fct_cdr "
            "where source = 'enigma' and started_at_estimated"
        ).fetchall()
        assert {r[0] for r in estimated} == c2d
        assert all(started == extracted for _, started, extracted in estimated)
        calls = dict(con.execute("select call_key, legs from marts.fct_call where source = 'enigma'").fetchall())
        assert calls == {key: len(refs) for key, refs in expected_calls().items()}
        by_call = {}
        for cdr_id, call_key in con.execute(
            "select source_cdr_id, call_key from marts.fct_cdr where source = 'enigma'"
        ).fetchall():
            by_call.setdefault(call_key, set()).add(cdr_id)
        assert by_call == expected_calls()
        # dim_date: the campaign CDRs' days, then the drain day alone (not the days between)
        drain_days = {r[1].astimezone(UTC).date() for r in estimated}
        days = {r[0] for r in con.execute("select date_key from marts.dim_date").fetchall()}
        first, last = min(timed_days()), max(timed_days())
        assert days == {date.fromordinal(d) for d in range(first.toordinal(), last.toordinal() + 1)} | drain_days
    assert len(list((data / "quarantine" / "enigma").rglob("*.bin"))) == poison == 1
