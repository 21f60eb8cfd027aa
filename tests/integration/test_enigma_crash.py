"""SIGKILL a drain at random points, many times over: every pushed CDR ends up in the warehouse exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest
import redis

from cdr import config
from cdr.warehouse.build import build_and_publish
from launch import start_redis
from tests.helpers import lake_rows

KEY = "enigma:notifications:campaigns"
PUSHED = 3000
LEASE_TTL = 0.5


def drain_process(url: str, data_dir) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cdr.sources.enigma.drain",
            "--url",
            url,
            "--key",
            KEY,
            "--batch-size",
            "25",
            "--lease-ttl",
            str(LEASE_TTL),
        ],
        env={**os.environ, "CDR_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_at_random_points_loses_and_duplicates_nothing(data_dir):
    rng = random.Random(9)
    with start_redis() as server:
        client = redis.Redis(port=server.port)
        for n in range(PUSHED):
            client.lpush(
                KEY,
                json.dumps(
                    {
                        "type": "cdr",
                        "payload": {
                            "call_ref": f"K-{n:05d}",
                            "extension": "3001",
                            "end_reason": "ANSWERED",
                            "call_time": n % 300,
                            "dialed_at": 1795132800 + n,
                            "number": "0820001234",
                            "call_dir": "outbound",
                            "ref": "C",
                        },
                    }
                ),
            )
        kills = 0
        while client.llen(KEY) and kills < 40:
            proc = drain_process(server.url, data_dir)
            # Kill once it is under way (its first batch logged), at a random instant of what follows:
            # reading, parsing, writing, fsync, rename, trimming.
            assert proc.stderr is not None
            for line in proc.stderr:
                if b" batch " in line:
                    break
            time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
            time.sleep(LEASE_TTL + 0.1)  # a killed drain's lease frees itself
        final = drain_process(server.url, data_dir)
        assert final.wait(timeout=120) == 0, final.stderr.read().decode()[-2000:]
        assert client.llen(KEY) == 0
    assert kills >= 5, "the drains finished before they could be killed: the test proved nothing"

    raws = [row["_raw"] for row in lake_rows(data_dir, "enigma", ["_raw"])]
    lake_refs = [json.loads(raw)["payload"]["call_ref"] for raw in raws]
    assert set(lake_refs) == {f"K-{n:05d}" for n in range(PUSHED)}  # nothing lost (some read twice is fine)
    # A kill mid-write leaves a hidden temporary; the next drain sweeps them, and no glob ever reads them.
    leftovers = [p for p in data_dir.rglob(".*.tmp")]
    assert leftovers == []
    build_and_publish()
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        total, distinct = con.execute(
            "select count(*), count(distinct source_cdr_id) from marts.fct_cdr where source = 'enigma'"
        ).fetchone()
    assert total == distinct == PUSHED
    print(f"{kills} kills; {len(lake_refs) - PUSHED} CDRs read twice; {len(leftovers)} temporaries left by kills")


@pytest.mark.slow
def test_a_batch_read_again_after_a_crash_counts_once(data_dir, monkeypatch):
    from cdr.sources.enigma import drain as drain_module

    with start_redis() as server:
        client = redis.Redis(port=server.port)
        for n in range(5):
            client.lpush(KEY, json.dumps({"type": "cdr", "payload": {"call_ref": f"R-{n}", "extension": "3001"}}))
        real_eval = redis.Redis.eval

        def killed_before_trim(self, script, *args):
            if "LTRIM" in script:
                raise ConnectionError("killed between the durable write and the trim")
            return real_eval(self, script, *args)

        with monkeypatch.context() as patch:
            patch.setattr(redis.Redis, "eval", killed_before_trim)
            with pytest.raises(ConnectionError):
                # a lease long enough for a loaded machine to write the batch before it runs out
                drain_module.drain(client, [KEY], batch_size=10, lease_ttl_seconds=2)
        time.sleep(2.2)  # the crashed drain's lease runs out: the next one may take the list
        for n in range(5, 8):
            client.lpush(KEY, json.dumps({"type": "cdr", "payload": {"call_ref": f"R-{n}", "extension": "3001"}}))
        drain_module.drain(client, [KEY], batch_size=10)
        assert client.llen(KEY) == 0
    raws = [row["_raw"] for row in lake_rows(data_dir, "enigma", ["_raw"])]
    refs = [json.loads(raw)["payload"]["call_ref"] for raw in raws]
    assert sorted(refs) == sorted([f"R-{n}" for n in range(5)] * 2 + [f"R-{n}" for n in range(5, 8)])
    build_and_publish()
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        assert sorted(r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr").fetchall()) == [
            f"R-{n}" for n in range(8)
        ]
