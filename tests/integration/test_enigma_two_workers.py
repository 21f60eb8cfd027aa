"""Two workers race to drain Enigma (two real processes, as two Celery workers on two hosts would run the task,
released at the same instant) against one real redis-server: the lease lets exactly one drain, the other is
refused at once, and every pushed CDR is in the lake exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import redis

from launch import start_redis
from tests.helpers import lake_rows
from tests.integration.test_enigma_drain import cdr

pytestmark = pytest.mark.integration

KEY = "enigma:notifications:campaigns"
PER_ROUND = 600
ROUNDS = 2

# One worker: imports done and connected, it says "ready", waits for "go" on stdin, then runs the task's drain.
WORKER = textwrap.dedent(
    """
    import json, sys
    import redis
    from cdr.sources.enigma.drain import LeaseHeld, drain
    client = redis.Redis.from_url(sys.argv[1])
    client.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        summary = drain(client, [sys.argv[2]], batch_size=20, lease_ttl_seconds=30)
        print(json.dumps({"drained": summary["keys"][sys.argv[2]]["messages"]}), flush=True)
    except LeaseHeld as refused:
        print(json.dumps({"refused": str(refused)}), flush=True)
    """
)


@pytest.fixture(scope="module")
def server():
    with start_redis() as srv:
        yield srv


def race(url: str) -> list[dict]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, KEY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # both released together: the drain itself takes far longer than this
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [json.loads(worker.stdout.readline()) for worker in workers]
        for worker in workers:
            assert worker.wait(timeout=60) == 0
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def test_two_workers_racing_drain_once_and_lose_nothing(server, data_dir):
    client = redis.Redis(port=server.port)
    client.flushdb()
    url = f"redis://127.0.0.1:{server.port}/0"
    pushed: list[str] = []
    for round_ in range(ROUNDS):
        refs = [f"ENG-{round_}-{n}" for n in range(PER_ROUND)]
        client.lpush(KEY, *(cdr(ref) for ref in refs))
        pushed += refs
        results = race(url)
        drained = [r["drained"] for r in results if "drained" in r]
        refused = [r["refused"] for r in results if "refused" in r]
        # one consumer: the winner takes the whole round, the other is refused naming the lease's holder
        assert drained == [PER_ROUND], results
        assert len(refused) == 1 and "another consumer holds the lease" in refused[0], results
        assert client.llen(KEY) == 0
        assert client.get("cdr:enigma:drain:lease") is None  # the winner released it
    refs = [json.loads(row["_raw"])["payload"]["call_ref"] for row in lake_rows(data_dir, "enigma")]
    assert sorted(refs) == sorted(pushed)  # every CDR once: none lost, none twice
