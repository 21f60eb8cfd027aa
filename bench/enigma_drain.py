"""Benchmark: drain a backlog of Enigma CDRs from Redis into the lake (issues: Enigma drain, 30).

For each data variant (VARIANTS: the generator's messages, fields shuffled, numbers as strings, blanks, messages
of 50 to 5,000 bytes), pushes N CDRs (default 1,000,000) onto a throwaway redis-server, then, in the same run:
  floor: the same list read and trimmed with redis-py alone (LRANGE + LTRIM, same batch size), nothing parsed
         or written: the most any drain can do over this Redis and this client;
  drain: cdr.sources.enigma.drain: check each message is JSON, Parquet (fsync, rename), trim.
Each runs in its own process, which reports its own peak RSS.
Targets, on every variant: drain >= 100,000 CDRs/s, >= 0.85x the floor's rate (issue 30), peak RSS < 400 MB
whatever the backlog. One line per variant.

Run: .venv/bin/python bench/enigma_drain.py [--cdrs 1000000] [--batch-size 20000] [--variant NAME ...]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
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
from cdr.sources.enigma.drain import drain
logging.basicConfig(level=logging.WARNING)
r = redis.Redis(port=int(sys.argv[1]))
started = time.perf_counter()
summary = drain(r, [sys.argv[2]], batch_size=int(sys.argv[3]), budget_seconds=3600)
count = summary["keys"][sys.argv[2]]["stored"]
print(count, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def payload(n: int) -> dict:
    return {
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
    }


def _shuffled(n: int) -> dict:
    items = list(payload(n).items())
    random.Random(n).shuffle(items)
    return {"payload": dict(items), "type": "cdr"}


def _strings(n: int) -> dict:
    return {"type": "cdr", "payload": {k: v if v is None else str(v) for k, v in payload(n).items()}}


def _blanks(n: int) -> dict:
    body = payload(n)
    for index, key in enumerate(list(body)):
        if key != "call_ref" and (n + index) % 3 == 0:
            choice = (n + index) // 3 % 3
            if choice == 2:
                del body[key]
            else:
                body[key] = "" if choice == 0 else None
    return {"type": "cdr", "payload": body}


def _long_short(n: int) -> dict:
    if n % 4 == 0:
        return {"type": "cdr", "payload": {"call_ref": f"B-{n}"}}  # about 50 bytes
    body = payload(n)
    body["recording_url"] = f"ftp://recordings.bench.example/{n}.wav?sig={'x' * (n * 7919 % 4500)}"
    return {"type": "cdr", "payload": body}


# What the dialer may send otherwise than the generator: the drain reads no field, but a message's size and
# shape are what it checks and stores.
VARIANTS = {
    "base": lambda n: {"type": "cdr", "payload": payload(n)},
    "shuffled": _shuffled,
    "strings": _strings,
    "blanks": _blanks,
    "long-short": _long_short,
}


def cdr(n: int, variant: str = "base") -> bytes:
    return json.dumps(VARIANTS[variant](n), separators=(",", ":")).encode()


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


def measure(client, server, variant: str, args, tmp: Path) -> dict:
    client.delete(MASTER)
    started = time.perf_counter()
    for low in range(0, args.cdrs, 10_000):
        client.lpush(MASTER, *(cdr(n, variant) for n in range(low, min(low + 10_000, args.cdrs))))
    print(
        f"{variant}: pushed {args.cdrs:,} CDRs in {time.perf_counter() - started:.1f}s"
        f" ({client.info('memory')['used_memory_human']} in Redis)",
        flush=True,
    )
    figures = {"floor": [], "drain": []}
    for _ in range(args.rounds):  # in turn, the best counting: this machine's speed drifts within minutes
        for name, code in (("floor", FLOOR), ("drain", DRAIN)):
            client.copy(MASTER, KEY, replace=True)
            workdir = tmp / f"{variant}-{name}"
            count, seconds, rss = run(code, server.port, args.batch_size, workdir)
            assert count == args.cdrs, (name, count)
            figures[name].append((count / seconds, rss))
            print(f"  {name:6}{count / seconds:>12,.0f} CDRs/s{rss:>7,.0f} MB", flush=True)
            shutil.rmtree(workdir, ignore_errors=True)
    floor = max(rate for rate, _ in figures["floor"])
    drain = max(rate for rate, _ in figures["drain"])
    return {"floor": floor, "drain": drain, "rss": max(rss for _, rss in figures["drain"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--variant", choices=list(VARIANTS), action="append", help="only these (default: all)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, in turn; the best counts")
    args = parser.parse_args()
    results = {}
    with start_redis() as server, tempfile.TemporaryDirectory(prefix="bench-enigma-") as tmp:
        client = redis.Redis(port=server.port)
        for variant in args.variant or list(VARIANTS):
            results[variant] = measure(client, server, variant, args, Path(tmp))
    print(
        f"\nEnigma drain: {args.cdrs:,} CDRs a variant, batches of {args.batch_size:,}, best of {args.rounds}. "
        "Targets: >= 100,000 CDRs/s, >= 0.85x the floor (LRANGE + LTRIM alone), peak RSS < 400 MB"
    )
    print(f"{'variant':12}{'floor/s':>11}{'drain/s':>11}{'x floor':>9}{'peak RSS':>10}  verdict")
    met = True
    for variant, r in results.items():
        ok = r["drain"] >= 100_000 and r["drain"] >= 0.85 * r["floor"] and r["rss"] < 400
        met &= ok
        print(
            f"{variant:12}{r['floor']:>11,.0f}{r['drain']:>11,.0f}{r['drain'] / r['floor']:>8.2f}x"
            f"{r['rss']:>7,.0f} MB  {'ok' if ok else 'MISSED'}"
        )
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
