"""The Enigma drain against a real, throwaway redis-server on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis

from cdr.lake.writer import LakeWriter
from cdr.sources.enigma.drain import Lease, LeaseHeld, drain
from launch import start_redis
from tests.helpers import lake_rows as lake_source_rows

KEY, C2D = "enigma:notifications:campaigns", "enigma:notifications:c2d"


@pytest.fixture(scope="module")
def server():
    with start_redis() as srv:
        yield srv


@pytest.fixture
def r(server):
    client = redis.Redis(port=server.port)
    client.flushdb()
    return client


def cdr(ref: str, **payload) -> bytes:
    return json.dumps(
        {
            "type": "cdr",
            "payload": {
                "call_ref": ref,
                "extension": "3001",
                "end_reason": "ANSWERED",
                "dialed_at": "2026-11-20T10:00:00+02:00",
                **payload,
            },
        }
    ).encode()


def lake_rows(data_dir) -> list[dict]:
    """Lake rows, with the message they keep parsed back (the lake stores it whole, as pushed)."""
    rows = lake_source_rows(data_dir, "enigma")
    for row in rows:
        row["message"] = json.loads(row["_raw"])
        row["call_ref"] = (row["message"].get("payload") or {}).get("call_ref")
    return rows


def test_batches_leave_oldest_first_and_empty_the_list(r, data_dir):
    for n in range(1, 26):
        r.lpush(KEY, cdr(f"ENG-{n}"))  # the dialer pushes on the left
    summary = drain(r, [KEY], batch_size=10)
    assert summary["keys"][KEY]["batches"] == 3 and summary["keys"][KEY]["messages"] == 25
    assert r.llen(KEY) == 0
    batches: dict[str, list[int]] = {}
    for row in lake_rows(data_dir):
        batches.setdefault(row["_batch"], []).append(int(row["call_ref"].split("-")[1]))
    assert sorted(sorted(refs) for refs in batches.values()) == [
        list(range(1, 11)),
        list(range(11, 21)),
        list(range(21, 26)),
    ]


def test_the_deprecated_c2d_key_is_drained_with_its_message_whole(r, data_dir):
    message = json.dumps(
        {
            "notifications": [
                {
                    "extension": "3001",
                    "disposition": "ANSWERED",
                    "call_ref": "a",
                    "end_code": "16",
                    "recording_url": "x",
                },
                {
                    "extension": "3002",
                    "disposition": "NO ANSWER",
                    "call_ref": "b",
                    "end_code": "19",
                    "recording_url": None,
                },
            ]
        }
    )
    r.lpush(C2D, message)
    summary = drain(r, [KEY, C2D])
    rows = lake_rows(data_dir)
    # One row per message, as pushed; staging flattens it one row per notification (dbt unit test).
    assert [(row["_raw"], row["_key"]) for row in rows] == [(message, C2D)]
    assert summary["keys"][C2D]["stored"] == 1 and r.llen(C2D) == 0


def test_poison_goes_to_quarantine_byte_for_byte_and_never_blocks(r, data_dir):
    poison = b'\xff\x00{"type": "cdr", "payload": '
    for message in (cdr("first"), poison, b"[1, 2]", cdr("last")):
        r.lpush(KEY, message)
    summary = drain(r, [KEY])
    assert summary["keys"][KEY]["quarantined"] == 2 and r.llen(KEY) == 0
    assert sorted(row["call_ref"] for row in lake_rows(data_dir)) == ["first", "last"]
    kept = sorted(p.read_bytes() for p in (data_dir / "quarantine" / "enigma").rglob("*.bin"))
    assert kept == sorted([poison, b"[1, 2]"])


def test_other_message_types_are_kept(r, data_dir):
    r.lpush(KEY, cdr("one"))
    r.lpush(KEY, json.dumps({"type": "campaign_status", "payload": {"ref": "X", "status": "paused"}}))
    assert drain(r, [KEY])["keys"][KEY]["stored"] == 2
    assert sorted(row["message"]["type"] for row in lake_rows(data_dir)) == ["campaign_status", "cdr"]


def test_lineage_and_the_message_exactly_as_pushed(r, data_dir):
    pushed = b'{"type":"cdr",  "payload": {"call_ref": "x", "extra_field": [1, {"deep": true}]}}'
    r.lpush(KEY, pushed)
    drain(r, [KEY], timezone_name="Africa/Johannesburg")
    (row,) = lake_rows(data_dir)
    assert row["_raw"].encode() == pushed
    assert (row["_source"], row["_key"], row["_timezone"]) == ("enigma", KEY, "Africa/Johannesburg")
    assert row["_extracted_at"].date() == datetime.now(UTC).date() and len(row["_batch"]) == 24


def test_a_second_consumer_is_refused_and_a_dead_ones_lease_expires(r, data_dir):
    r.lpush(KEY, cdr("x"))
    with Lease(r, ttl_seconds=30):
        with pytest.raises(LeaseHeld, match="one consumer only"):
            drain(r, [KEY])
    assert r.llen(KEY) == 1
    # A drain killed while holding the lease: nobody releases it, the TTL does.
    Lease(r, ttl_seconds=0.3).__enter__()
    with pytest.raises(LeaseHeld):
        drain(r, [KEY])
    import time

    time.sleep(0.4)
    drain(r, [KEY])
    assert r.llen(KEY) == 0


def test_a_failed_write_leaves_every_message_in_redis(r, data_dir, monkeypatch):
    for n in range(5):
        r.lpush(KEY, cdr(f"keep-{n}"))

    def disk_full(self):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(LakeWriter, "commit", disk_full)
        with pytest.raises(OSError, match="No space left"):
            drain(r, [KEY])
    assert r.llen(KEY) == 5 and lake_rows(data_dir) == []
    drain(r, [KEY])
    assert r.llen(KEY) == 0 and len(lake_rows(data_dir)) == 5


def test_the_time_budget_stops_between_batches(r, data_dir):
    for n in range(30):
        r.lpush(KEY, cdr(f"b-{n}"))
    summary = drain(r, [KEY], batch_size=10, budget_seconds=0)
    assert summary["stopped_by_budget"] and r.llen(KEY) == 30


def test_batches_are_bounded_in_bytes_and_read_in_chunks(r, data_dir, monkeypatch):
    """Large messages make smaller batches (each at most MAX_BATCH_BYTES, one message at least), read a chunk at a
    time; every message is stored once, oldest first, and the list ends empty."""
    import cdr.sources.enigma.drain as enigma

    monkeypatch.setattr(enigma, "MAX_BATCH_BYTES", 3_000)
    monkeypatch.setattr(enigma, "READ_CHUNK", 4)
    sizes = [50, 900, 2_000, 10, 4_000, 700, 700, 700, 700, 30, 2_990, 5]
    messages = [cdr(f"ENG-{n}", note="x" * size) for n, size in enumerate(sizes)]
    for message in messages:
        r.lpush(KEY, message)
    calls: list[tuple] = []
    real_lrange, real_eval = r.lrange, r.eval

    def lrange(key, start, end):
        found = real_lrange(key, start, end)
        calls.append(("read", start, end, len(found)))
        return found

    def trim(script, *args):
        if "LTRIM" in script:
            calls.append(("trim", args[-1]))
        return real_eval(script, *args)

    monkeypatch.setattr(r, "lrange", lrange)
    monkeypatch.setattr(r, "eval", trim)
    summary = enigma.drain(r, [KEY], batch_size=6)
    # the batches a reader of the list's oldest end makes under both bounds, computed here
    expected, batch, size = [], [], 0
    for message in messages:
        if batch and (len(batch) == 6 or size + len(message) > 3_000):
            expected.append(batch)
            batch, size = [], 0
        batch.append(message)
        size += len(message)
    expected.append(batch)
    assert summary["keys"][KEY]["batches"] == len(expected) > len(sizes) // 6 + 1
    assert summary["keys"][KEY]["stored"] == len(messages) and r.llen(KEY) == 0
    rows = lake_rows(data_dir)
    by_batch: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda row: int(row["call_ref"].split("-")[1])):
        by_batch.setdefault(row["_batch"], []).append(row["call_ref"])
    got = sorted(by_batch.values(), key=lambda refs: int(refs[0].split("-")[1]))
    assert got == [[json.loads(m)["payload"]["call_ref"] for m in b] for b in expected]
    # the second batch was read ahead, while the first was written: a read of the list's (n+1)-th oldest message
    # before the first trim of n
    first_trim = next(i for i, call in enumerate(calls) if call[0] == "trim")
    assert calls[first_trim][1] == len(expected[0])
    ahead = -(len(expected[0]) + 1)
    assert any(call[1] <= ahead <= call[2] for call in calls[:first_trim] if call[0] == "read")
    # no message read more than twice: a chunk is sized to the room left in its batch
    assert sum(call[3] for call in calls if call[0] == "read") <= 2 * len(messages)
