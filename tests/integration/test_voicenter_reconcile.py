"""Reconciliation against real components: cdr-receiver on loopback, the loader, the Call Log simulator, the lake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
import requests
from post_voicenter import post, post_all

from cdr.sources.http import RetryPolicy
from cdr.sources.voicenter.calllog import CallLogClient, endpoint_url
from cdr.sources.voicenter.load import load_staged
from cdr.sources.voicenter.reconcile import reconcile_interval
from cdr.sources.voicenter.records import SCHEMA
from launch import start, start_receiver
from tests.conftest import ROOT
from tests.helpers import control, lake_rows, voicenter_instant

CODE = "demo-voicenter-code"
TOKEN = "reconcile-token-0123456789abcdef0123456789"
DAY = (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
CDRS = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())
UNIT_FILE = "date=2026-11-20/voicenter__calllog__20261120T000000Z_20261121T000000Z.parquet"


def hour_of(cdr: dict) -> int:
    return voicenter_instant(cdr).hour


OUTAGE = {c["ivruniqueid"] for c in CDRS if hour_of(c) == 8}  # the receiver is down 08:00-09:00


@pytest.fixture(scope="module")
def sim():
    with start("voicenter_calllog_sim.py", "--rate-limit", "100000") as server:
        yield server


@pytest.fixture
def client(sim):
    control(sim.url, reset=True, clear_stats=True)
    return CallLogClient(
        endpoint_url(sim.url), CODE, requests_per_minute=60_000, policy=RetryPolicy(attempts=3, backoff=0.05)
    )


def deliver(data_dir, cdrs: list[dict]) -> None:
    """What Voicenter's webhook got through: posted to a real receiver, staged, sealed at its stop."""
    with start_receiver(str(data_dir), TOKEN) as receiver:
        post_all(receiver.url, TOKEN, cdrs)


def ids_by_origin(data_dir) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in lake_rows(data_dir, "voicenter", ["ivruniqueid", "_origin"]):
        found.setdefault(row["_origin"], []).append(row["ivruniqueid"])
    return found


def test_a_receiver_down_for_an_hour_loses_nothing(data_dir, client):
    assert 0 < len(OUTAGE) < len(CDRS)
    before = [c for c in CDRS if hour_of(c) < 8]
    after = [c for c in CDRS if hour_of(c) > 8]
    deliver(data_dir, before)
    # The hour's CDRs find nobody listening: Voicenter's re-sends give up.
    with start_receiver(str(data_dir), TOKEN) as stopped:
        url = stopped.url
    with pytest.raises(requests.ConnectionError):
        post(url, TOKEN, next(c for c in CDRS if c["ivruniqueid"] in OUTAGE), "json")
    deliver(data_dir, after)
    load_staged()

    summary = reconcile_interval(client, *DAY)

    assert sorted(summary["recovered_ids"]) == sorted(OUTAGE)
    assert summary["in_log"] == len(CDRS) and summary["delivered_by_webhook"] == len(CDRS) - len(OUTAGE)
    assert summary["only_in_webhook"] == 0
    origins = ids_by_origin(data_dir)
    assert sorted(origins["call_log"]) == sorted(OUTAGE)  # none doubled in the unit
    # Voicenter's own re-sends are in the lake more than once (the warehouse keeps one): compare as sets.
    assert set(origins["webhook"]) == {c["ivruniqueid"] for c in CDRS} - OUTAGE
    unit = pq.read_table(data_dir / "lake" / "voicenter" / UNIT_FILE)
    assert unit.schema.equals(SCHEMA, check_metadata=False)
    by_id = {c["ivruniqueid"]: c for c in CDRS}
    for row in unit.to_pylist():
        cdr = by_id[row["ivruniqueid"]]
        raw = json.loads(row["_raw"])
        assert raw["CallID"] == cdr["ivruniqueid"] and row["_batch"] == summary["unit"]
        # The call's start lands where its webhook copy would have put it.
        assert row["time"] == cdr["time"] and row["time_utc"] == voicenter_instant(cdr)
        assert row["status"] == cdr["status"] and row["type"] == cdr["type"]
        assert row["OriginalIvrUniqueID"] == cdr.get("OriginalIvrUniqueID")


def test_a_re_run_rewrites_the_same_file_with_the_same_rows(data_dir, client):
    deliver(data_dir, [c for c in CDRS if c["ivruniqueid"] not in OUTAGE])
    load_staged()
    reconcile_interval(client, *DAY)
    files = sorted(p.relative_to(data_dir) for p in (data_dir / "lake").rglob("*.parquet"))
    first = pq.read_table(data_dir / "lake" / "voicenter" / UNIT_FILE).drop_columns(["_extracted_at"])
    summary = reconcile_interval(client, *DAY)
    assert sorted(p.relative_to(data_dir) for p in (data_dir / "lake").rglob("*.parquet")) == files
    again = pq.read_table(data_dir / "lake" / "voicenter" / UNIT_FILE).drop_columns(["_extracted_at"])
    assert again.equals(first) and again.num_rows == len(OUTAGE) == summary["recovered_from_log"]


def test_a_webhook_arriving_after_the_reconciliation_sits_beside_the_recovered_copy(data_dir, client):
    deliver(data_dir, [c for c in CDRS if c["ivruniqueid"] not in OUTAGE])
    load_staged()
    reconcile_interval(client, *DAY)
    # Voicenter's re-sends get through at last.
    deliver(data_dir, [c for c in CDRS if c["ivruniqueid"] in OUTAGE])
    load_staged()
    origins = ids_by_origin(data_dir)
    assert sorted(origins["call_log"]) == sorted(OUTAGE)
    assert set(origins["webhook"]) == {c["ivruniqueid"] for c in CDRS}
    # Reconciling the interval again finds nothing missing and takes the recovered copies back out.
    summary = reconcile_interval(client, *DAY)
    assert summary["recovered_from_log"] == 0
    assert not (data_dir / "lake" / "voicenter" / UNIT_FILE).exists()
    assert "call_log" not in ids_by_origin(data_dir)


def test_staged_segments_not_loaded_yet_count_as_delivered(data_dir, client):
    deliver(data_dir, [c for c in CDRS if c["ivruniqueid"] not in OUTAGE])
    # One outage CDR is in a segment still being written, followed by a partial line.
    folder = data_dir / "landing" / "voicenter"
    late = next(c for c in CDRS if c["ivruniqueid"] in OUTAGE)
    line = json.dumps({"received_at": "2026-11-20T08:30:00+00:00", "format": "json", "cdr": late}).encode()
    (folder / "zz-open.jsonl.open").write_bytes(line + b"\n" + b'{"received_at": "2026-11-2')
    assert not list((data_dir / "lake").rglob("voicenter__*.parquet"))  # nothing loaded

    summary = reconcile_interval(client, *DAY)

    assert sorted(summary["recovered_ids"]) == sorted(OUTAGE - {late["ivruniqueid"]})
    assert summary["delivered_by_webhook"] == len(CDRS) - len(OUTAGE) + 1


def test_cdrs_the_log_lacks_are_counted_and_kept(data_dir, client, sim):
    deliver(data_dir, CDRS)
    load_staged()
    lacking = sorted(c["ivruniqueid"] for c in CDRS[:3])
    control(sim.url, omit=lacking)
    summary = reconcile_interval(client, *DAY)
    assert summary["only_in_webhook_ids"] == lacking and summary["only_in_webhook"] == 3
    assert summary["recovered_from_log"] == 0
    assert set(ids_by_origin(data_dir)["webhook"]) == {c["ivruniqueid"] for c in CDRS}


def test_consecutive_intervals_each_recover_their_own_calls_once(data_dir, client):
    # Nothing delivered at all: hourly intervals over the demo day tile it without overlap.
    hours = [(DAY[0] + timedelta(hours=h), DAY[0] + timedelta(hours=h + 1)) for h in range(24)]
    recovered, outside = [], 0
    for low, high in hours:
        summary = reconcile_interval(client, low, high)
        expected = {c["ivruniqueid"] for c in CDRS if low <= voicenter_instant(c) < high}
        assert set(summary["recovered_ids"]) == expected
        recovered += summary["recovered_ids"]
        outside += summary["outside_interval"]
    # The simulator's todate is inclusive: a call on an hour's last edge comes back and is left to the next.
    assert outside == sum(
        1 for c in CDRS if voicenter_instant(c).timestamp() % 3600 == 0 and voicenter_instant(c) > DAY[0]
    )
    assert sorted(recovered) == sorted(c["ivruniqueid"] for c in CDRS)
    assert sorted(ids_by_origin(data_dir)["call_log"]) == sorted(recovered)


def test_a_log_record_without_a_call_id_is_quarantined(data_dir, tmp_path):
    records = [
        {"CallID": "", "Date": "2026-11-20T10:00:00Z", "DialStatus": "ANSWER"},
        {"CallID": "ok1", "Date": "2026-11-20T10:00:01Z", "DialStatus": "ANSWER"},
    ]
    path = tmp_path / "log.json"
    path.write_text(json.dumps(records))
    with start("voicenter_calllog_sim.py", "--data", str(path)) as server:
        summary = reconcile_interval(CallLogClient(endpoint_url(server.url), CODE), *DAY)
    assert summary["quarantined"] == 1 and summary["recovered_ids"] == ["ok1"]
    [body] = (data_dir / "quarantine" / "voicenter").rglob("*.bin")
    assert json.loads(body.read_bytes()) == records[0]


def test_the_demo_leaves_out_exactly_the_outage_hour():
    # If the demo CDRs are regenerated, include/demo/voicenter_not_posted.json must follow them.
    listed = json.loads((ROOT / "include" / "demo" / "voicenter_not_posted.json").read_text())["ivruniqueids"]
    assert sorted(listed) == sorted(OUTAGE)
