"""End to end: Voicenter posts to cdr-receiver -> voicenter_cdrs (real Airflow CLI) -> cdr_warehouse (dbt)."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from post_voicenter import post_all

from launch import start_receiver
from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow

pytestmark = pytest.mark.e2e
CDRS = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())


def test_posted_cdrs_reach_the_warehouse_once_each(tmp_path, airflow_db):
    data = tmp_path / "data"
    with start_receiver(str(data), "e2e-token-0123456789abcdefghijklmnop") as receiver:
        posts = post_all(receiver.url, "e2e-token-0123456789abcdefghijklmnop", CDRS)
    assert posts > len(CDRS)  # some were re-sent
    env = {**os.environ, "CDR_DATA_DIR": str(data)}
    airflow(env, "dags", "test", "voicenter_cdrs", "2026-11-21T00:00:00+00:00", log="voicenter-load")
    airflow(env, "dags", "test", "cdr_warehouse", "2026-11-21T00:00:00+00:00", log="voicenter-build")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select source_cdr_id, call_key, status, direction, queue_key, price_currency "
            "from marts.fct_cdr where source = 'voicenter'"
        ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(c["ivruniqueid"] for c in CDRS)
        by_id = {r[0]: r for r in rows}
        for c in CDRS:
            _, call_key, status, direction, queue_key, _ = by_id[c["ivruniqueid"]]
            assert call_key == c.get("OriginalIvrUniqueID", c["ivruniqueid"])
            if c["status"] == "ABANDONE":
                assert status == "abandoned" and direction == "inbound" and queue_key is not None
            if c["type"] == "Extension Outgoing":
                assert direction == "outbound"
        # Two-leg calls group under one key.
        assert (
            con.execute("select max(n) from (select count(*) n from marts.fct_cdr group by call_key)").fetchone()[0]
            == 2
        )


def test_a_resend_that_differs_keeps_the_first_and_is_counted(tmp_path, monkeypatch):
    """Anyone with the token can re-send a CDR: one with other content, in the same load or days later, must not
    rewrite the first; it stays in the lake and is counted as a conflict (issue 12, point 5)."""
    from post_voicenter import post

    from cdr import config
    from cdr.sources.voicenter.load import load_staged
    from cdr.warehouse.build import build_and_publish

    data = tmp_path / "data"
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    token = "e2e-token-0123456789abcdefghijklmnop"
    first = {
        "ivruniqueid": "resend-1",
        "type": "Queue",
        "status": "ANSWER",
        "caller": "0501234567",
        "did": "0722776772",
        "time": 1795176000,
        "duration": 60,
        "dialtime": 3,
    }
    twin = {**first, "ivruniqueid": "resend-2"}

    def send_and_build(*cdrs):
        with start_receiver(str(data), token) as receiver:
            for cdr in cdrs:
                assert post(receiver.url, token, cdr, "json").status_code == 200
        load_staged()
        build_and_publish()
        with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
            legs = dict(
                con.execute("select source_cdr_id, status || ':' || talk_seconds from marts.fct_cdr").fetchall()
            )
            conflicts = dict(
                con.execute(
                    "select raw_value, sum(legs)::int from marts.dq_unmapped where affects = 'conflict' group by all"
                ).fetchall()
            )
        return legs, conflicts

    # the same load: the first copy wins over a different one received after it; an identical re-send is no conflict
    legs, conflicts = send_and_build(first, {**first, "status": "NOANSWER", "duration": 0}, twin, twin)
    assert legs == {"resend-1": "answered:60", "resend-2": "answered:60"}
    assert conflicts == {"resend-1": 1}
    # a later build: another version of each cannot rewrite what the warehouse holds
    legs, conflicts = send_and_build({**first, "status": "BUSY", "duration": 0}, {**twin, "duration": 5})
    assert legs == {"resend-1": "answered:60", "resend-2": "answered:60"}
    assert conflicts == {"resend-1": 2, "resend-2": 1}
    staged = {
        line
        for segment in (data / "landing" / "voicenter" / "loaded").glob("*.jsonl")
        for line in segment.read_text().splitlines()
    }
    assert len(staged) == 6  # every copy is kept


def test_voicenter_legs_start_at_the_true_utc_time_on_both_2026_daylight_saving_days(tmp_path, monkeypatch):
    """`time` is Israel's wall clock written as epoch seconds. Israel's clocks went forward at 02:00 on Friday
    27 March 2026 and back from 02:00 to 01:00 on Sunday 25 October 2026; the expected instants are written by
    hand. The repeated 01:30 is told apart by when each CDR was received (staged as the receiver stages it at that
    moment: a test cannot post in October)."""
    import calendar
    from datetime import UTC, datetime

    from post_voicenter import post

    from cdr import config
    from cdr.sources.voicenter.formats import parse, staged_line
    from cdr.sources.voicenter.load import load_staged
    from cdr.warehouse.build import build_and_publish

    data = tmp_path / "data"
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    token = "e2e-token-0123456789abcdefghijklmnop"

    def wall(*fields):
        return calendar.timegm((*fields, 0, 0, 0))

    def cdr(ident, when):
        return {
            "ivruniqueid": ident,
            "type": "Incoming Call",
            "status": "ANSWER",
            "caller": "0501234567",
            "did": "0722776772",
            "time": when,
            "duration": 60,
            "dialtime": 3,
        }

    posted = {
        "spring-before": (wall(2026, 3, 27, 1, 59, 0), datetime(2026, 3, 26, 23, 59, tzinfo=UTC)),
        "spring-after": (wall(2026, 3, 27, 3, 0, 30), datetime(2026, 3, 27, 0, 0, 30, tzinfo=UTC)),
        "autumn-before": (wall(2026, 10, 25, 0, 59, 0), datetime(2026, 10, 24, 21, 59, tzinfo=UTC)),
        "autumn-after": (wall(2026, 10, 25, 2, 0, 30), datetime(2026, 10, 25, 0, 0, 30, tzinfo=UTC)),
    }
    with start_receiver(str(data), token) as receiver:
        for ident, (when, _) in posted.items():
            assert post(receiver.url, token, cdr(ident, when), "json").status_code == 200
    repeated = wall(2026, 10, 25, 1, 30, 0)
    staged = {
        # received a minute after each call ended: 01:30 daylight time (22:30Z), then 01:30 standard time (23:30Z)
        "autumn-first-0130": ("2026-10-24T22:32:05+00:00", datetime(2026, 10, 24, 22, 30, tzinfo=UTC)),
        "autumn-second-0130": ("2026-10-24T23:32:05+00:00", datetime(2026, 10, 24, 23, 30, tzinfo=UTC)),
    }
    landing = data / "landing" / "voicenter"
    lines = b""
    for ident, (received, _) in staged.items():
        body = json.dumps(cdr(ident, repeated)).encode()
        lines += staged_line(received, parse("json", body), body)
    (landing / "20261024T223205-eeeeeeeeeeee.jsonl").write_bytes(lines)
    load_staged()
    build_and_publish()
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        started = dict(
            con.execute("select source_cdr_id, started_at from marts.fct_cdr where source = 'voicenter'").fetchall()
        )
    assert started == {ident: expected for ident, (_, expected) in {**posted, **staged}.items()}
