"""Benchmark: drain a backlog of Enigma CDRs from Redis into the lake (issue: Enigma drain).

Pushes N CDRs (default 1,000,000) onto a throwaway redis-server, then, in the same run:
  floor: the same list read and trimmed with redis-py alone (LRANGE + LTRIM, same batch size), nothing parsed
         or written: the most any drain can do over this Redis and this client;
  drain: cdr.enigma.drain: check each message is JSON, Parquet (fsync, rename), trim.
Each runs in its own process, which reports its own peak RSS.
Targets: drain >= 100,000 CDRs/s, >= half the floor's rate, peak RSS < 400 MB whatever the backlog.

Run: .venv/bin/python bench/enigma_drain.py [--cdrs 1000000] [--batch-size 20000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
from launch import start_redis  # noqa: E402

KEY = "enigma:notifications:campaigns"
MASTER = "bench:enigma:master"

FLOOR = """
import resource, sys, time, redis
r = redis.Redis(port=int(sys.argv[1])); key = sys.argv[2]; size = int(sys.argv[3])
started = time.perf_counter(); count = 0
while True:
    items = r.lrange(key, -size, -1)
    if not items:
        break
    r.ltrim(key, 0, -len(items) - 1)
    count += len(items)
print(count, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

DRAIN = """
import logging, resource, sys, time, redis
from cdr.enigma.drain import drain
logging.basicConfig(level=logging.WARNING)
r = redis.Redis(port=int(sys.argv[1]))
started = time.perf_counter()
summary = drain(r, [sys.argv[2]], batch_size=int(sys.argv[3]), budget_seconds=3600)
count = summary["keys"][sys.argv[2]]["stored"]
print(count, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def cdr(n: int) -> bytes:
    return json.dumps(
        {
            "type": "cdr",
            "payload": {
                "extension": str(3000 + n % 40),
                "number": f"08200{n % 100000:05d}",
                "call_ref": f"BENCH-{n:08d}",
                "contact_ref": f"C-{n % 5000}",
                "dialed_at": f"2026-11-20T{8 + n % 10:02d}:{n % 60:02d}:{n % 59:02d}+02:00",
                "end_reason": "ANSWERED" if n % 3 else "NO_ANSWER",
                "end_code": "200",
                "call_time": n % 400,
                "call_dir": "outbound",
                "recording_url": None,
                "ref": f"CAMPAIGN-{n % 7}",
            },
        }
    ).encode()


def run(code: str, port: int, size: int, env_dir: Path) -> tuple[int, float, float]:
    import os

    out = subprocess.run(
        [sys.executable, "-c", code, str(port), KEY, str(size)],
        capture_output=True,
        text=True,
        env={**os.environ, "CDR_DATA_DIR": str(env_dir)},
        check=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    args = parser.parse_args()
    with start_redis() as server, tempfile.TemporaryDirectory(prefix="bench-enigma-") as tmp:
        client = redis.Redis(port=server.port)
        started = time.perf_counter()
        for low in range(0, args.cdrs, 10_000):
            client.lpush(MASTER, *(cdr(n) for n in range(low, min(low + 10_000, args.cdrs))))
            print(f"\rpushing: {min(low + 10_000, args.cdrs):,}/{args.cdrs:,}", end="", flush=True)
        print(
            f"\rpushed {args.cdrs:,} CDRs in {time.perf_counter() - started:.1f}s"
            f" ({client.info('memory')['used_memory_human']} in Redis)"
        )

        client.copy(MASTER, KEY, replace=True)
        floor_count, floor_seconds, floor_rss = run(FLOOR, server.port, args.batch_size, Path(tmp))
        client.copy(MASTER, KEY, replace=True)
        drain_count, drain_seconds, drain_rss = run(DRAIN, server.port, args.batch_size, Path(tmp))
        lake_bytes = sum(p.stat().st_size for p in (Path(tmp) / "lake").rglob("*.parquet"))

    assert floor_count == drain_count == args.cdrs, (floor_count, drain_count)
    floor_rate, drain_rate = floor_count / floor_seconds, drain_count / drain_seconds
    print(f"\n{'':24}{'figure':>16}{'target':>22}")
    print(f"{'floor (redis-py only)':24}{floor_rate:>12,.0f}/s{'':>22}   peak RSS {floor_rss:,.0f} MB")
    print(
        f"{'drain CDRs per second':24}{drain_rate:>12,.0f}/s{'>= 100,000/s':>22}   "
        f"{'ok' if drain_rate >= 100_000 else 'MISSED'}"
    )
    print(
        f"{'drain / floor':24}{drain_rate / floor_rate:>14.0%}{'>= 50%':>22}   "
        f"{'ok' if drain_rate >= floor_rate / 2 else 'MISSED'}"
    )
    print(f"{'drain peak RSS':24}{drain_rss:>13,.0f} MB{'< 400 MB':>22}   {'ok' if drain_rss < 400 else 'MISSED'}")
    print(
        f"({args.cdrs:,} CDRs, batches of {args.batch_size:,}; drain {drain_seconds:.1f}s, floor "
        f"{floor_seconds:.1f}s; lake {lake_bytes / 1e6:.0f} MB of Parquet)"
    )


if __name__ == "__main__":
    main()
