"""One hostile record in the middle of good ones, per source, through the source's own door (issue 12, point 3).

KAZOO and the PBX serve it on a page, the dialer pushes it onto its list, Voicenter posts it. The whole pipeline
runs: every good record reaches marts.fct_cdr, the bad one is in quarantine/ byte for byte or counted as
unmappable, and the next run of every source goes through.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pytest
import redis
from post_voicenter import post

from cdr import config
from cdr.sources.enigma.drain import drain
from cdr.sources.kazoo.client import KazooClient
from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
from cdr.sources.pbx.client import PbxClient
from cdr.sources.pbx.extract import pull_interval as pull_pbx
from cdr.sources.voicenter.load import load_staged
from cdr.warehouse.build import build_and_publish
from launch import start, start_receiver, start_redis

pytestmark = pytest.mark.e2e
DAY = datetime(2026, 11, 20, tzinfo=UTC)
GREGORIAN = 62_167_219_200
TOKEN = "poison-token-0123456789abcdef0123456789"
KEY = "enigma:notifications:campaigns"


def kazoo_row(n: int, **fields) -> dict:
    start = DAY + timedelta(hours=9, minutes=n)
    return {
        "id": f"202611-poison-{n}",
        "call_id": f"c{n}",
        "caller_id_number": "+442079460321",
        "callee_id_number": "+18005550100",
        "direction": "inbound",
        "hangup_cause": "NORMAL_CLEARING",
        "duration_seconds": 30,
        "billing_seconds": 20,
        "timestamp": int(start.timestamp()) + GREGORIAN,
        **fields,
    }


def pbx_row(n: int, **fields) -> dict:
    start = DAY + timedelta(hours=9, minutes=n)
    local = start.astimezone(timezone(timedelta(hours=2)))  # Bucharest in November
    return {
        "id": str(50000 + n),
        "uniqueid": f"{int(start.timestamp())}.{n}",
        "linkedid": f"L{n}",
        "time": local.strftime("%Y-%m-%d %H:%M:%S"),
        "time_end": (local + timedelta(seconds=60)).strftime("%Y-%m-%d %H:%M:%S"),
        "direction": "IN",
        "source": "0722123456",
        "destination": "0312285000",
        "call_status": "ANSWERED",
        "duration": "00:01:00",
        "bill_duration": "00:00:50",
        "ring_time": "00:00:10",
        **fields,
    }


def enigma_message(n: int, **payload) -> bytes:
    return json.dumps(
        {
            "type": "cdr",
            "payload": {
                "extension": "3001",
                "number": "0820001234",
                "call_ref": f"E-{n}",
                "end_reason": "ANSWERED",
                "dialed_at": (DAY + timedelta(hours=9, minutes=n)).isoformat(),
                "call_time": 40,
                "call_dir": "outbound",
                **payload,
            },
        }
    ).encode()


def voicenter_cdr(n: int, **fields) -> dict:
    return {
        "ivruniqueid": f"V-{n}",
        "type": "Queue",
        "status": "ANSWER",
        "caller": "0501234567",
        "did": "0722776772",
        "time": int((DAY + timedelta(hours=9, minutes=n)).timestamp()),
        "duration": 60,
        "dialtime": 3,
        **fields,
    }


def wait_until_sealed(timeout: float = 20.0) -> None:
    """The receiver seals its open segment within seconds (staging.py); the loader takes sealed ones only."""
    import time

    deadline = time.monotonic() + timeout
    while list((config.landing_dir() / "voicenter").glob("*.jsonl.open")):
        assert time.monotonic() < deadline, "the receiver did not seal its segment"
        time.sleep(0.2)


def test_a_hostile_record_per_source_blocks_nothing_and_loses_nothing(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    kazoo_rows = [kazoo_row(1), kazoo_row(2, id=None), kazoo_row(3), kazoo_row(4, duration_seconds=-7)]
    pbx_rows = [pbx_row(1), pbx_row(2, id=None), pbx_row(3), pbx_row(4, bill_duration="99999999999:00:00")]
    (tmp_path / "kazoo.json").write_text(json.dumps(kazoo_rows))
    (tmp_path / "pbx.json").write_text(json.dumps(pbx_rows))
    good = {
        "kazoo": {"202611-poison-1", "202611-poison-3", "202611-poison-4"},
        "pbx": {"50001", "50003", "50004"},
        "enigma": {"E-1", "E-3", "E-4"},
        "voicenter": {"V-1", "V-2", "V-3"},  # V-2's impossible duration is counted, not lost (issue 28)
    }

    with (
        start("kazoo_sim.py", "--data", str(tmp_path / "kazoo.json")) as kazoo,
        start("pbx_sim.py", "--data", str(tmp_path / "pbx.json")) as pbx,
        start_redis() as server,
        start_receiver(str(data), TOKEN) as receiver,
    ):
        client = redis.Redis(port=server.port)
        for message in (
            enigma_message(1),
            b'{"type": "cdr", "payload": ',
            enigma_message(3),
            enigma_message(4, call_time="99999999999999999999"),
        ):
            client.lpush(KEY, message)
        not_a_cdr = {key: value for key, value in voicenter_cdr(4).items() if key != "ivruniqueid"}
        answers = [
            post(receiver.url, TOKEN, cdr, "json").status_code
            for cdr in (voicenter_cdr(1), voicenter_cdr(2, duration=99999999999999), not_a_cdr, voicenter_cdr(3))
        ]
        assert answers == [200, 200, 400, 200]

        kazoo_client = KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account")
        pbx_client = PbxClient(pbx.url, "demo-pbx-token", "demo-pbx-api-key")
        pull_kazoo(kazoo_client, DAY, DAY + timedelta(days=1))
        pull_pbx(pbx_client, DAY, DAY + timedelta(days=1))
        drain(client, [KEY])
        wait_until_sealed()
        load_staged()
        build_and_publish()

        # the next run of every source goes through: a new record each
        client.lpush(KEY, enigma_message(5))
        assert post(receiver.url, TOKEN, voicenter_cdr(5), "json").status_code == 200
        pull_kazoo(kazoo_client, DAY, DAY + timedelta(days=1))
        pull_pbx(pbx_client, DAY, DAY + timedelta(days=1))
        drain(client, [KEY])
        wait_until_sealed()
        load_staged()
        build_and_publish()

    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        legs = {}
        for source, cdr_id in con.execute("select source, source_cdr_id from marts.fct_cdr").fetchall():
            legs.setdefault(source, set()).add(cdr_id)
        invalid = {
            (s, f)
            for s, f in con.execute("select source, field from marts.dq_unmapped where affects = 'invalid'").fetchall()
        }
    good["enigma"].add("E-5")
    good["voicenter"].add("V-5")
    assert legs == good
    assert invalid == {
        ("kazoo", "duration_seconds"),
        ("pbx", "bill_duration"),
        ("enigma", "call_time"),
        ("voicenter", "duration"),
    }
    quarantined = {path.parent.parent.name: path.read_bytes() for path in config.quarantine_dir().rglob("*.bin")}
    assert set(quarantined) == {"kazoo", "pbx", "enigma", "voicenter"}
    assert quarantined["enigma"] == b'{"type": "cdr", "payload": '
    assert json.loads(quarantined["voicenter"]) == not_a_cdr  # no ivruniqueid: the one thing not a CDR
    assert json.loads(quarantined["kazoo"])["call_id"] == "c2"
    assert json.loads(quarantined["pbx"])["linkedid"] == "L2"
