"""Benchmark: cdr-receiver under load over loopback (issue: Voicenter receiver).

wrk (Debian's package; installed when missing) posts JSON CDRs with 32 connections for 30 s, once to the
receiver with storage switched off (CDR_RECEIVER_STORE=0: parse and answer only) and once to the real one,
which answers Err 0 only after the CDR is fsynced. Then the staged CDRs are counted: an acknowledged CDR that
is not on disk is lost.
Targets: >= 2,000 acknowledged CDRs/s on this 2-core machine, p99 < 50 ms, zero lost.

Run: .venv/bin/python bench/voicenter_receiver.py [--seconds 30] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
from launch import start_receiver  # noqa: E402

TOKEN = "bench-token"


def wrk(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench" / "voicenter_post.lua"),
         f"{url}/voicenter/cdr?token={TOKEN}"], capture_output=True, text=True, check=True).stdout
    return json.loads(re.search(r"RESULT (\{.*\})", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts" / "need.sh"), "wrk=wrk"], check=True)
    results = {}
    for mode, store in (("storage off", False), ("storage on", True)):
        with tempfile.TemporaryDirectory(prefix="bench-voicenter-") as tmp:
            with start_receiver(tmp, TOKEN, store=store) as receiver:
                print(f"{mode}: {args.connections} connections for {args.seconds}s ...", flush=True)
                result = wrk(receiver.url, args.seconds, args.connections)
            ids = set()
            for segment in (Path(tmp) / "landing" / "voicenter").glob("*.jsonl*"):
                ids |= {json.loads(line)["cdr"]["ivruniqueid"] for line in segment.read_bytes().splitlines()}
            result["acknowledged"] = result["requests"] - result["non2xx"]
            result["staged"] = len(ids)
            results[mode] = result
    on, off = results["storage on"], results["storage off"]
    rate = on["acknowledged"] / on["seconds"]
    lost = max(0, on["acknowledged"] - on["staged"])
    print(f"\n{'':26}{'storage on':>14}{'storage off':>14}{'target':>12}")
    print(f"{'acknowledged CDRs/s':26}{rate:>14,.0f}{off['acknowledged'] / off['seconds']:>14,.0f}{'>= 2,000':>12}"
          f"   {'ok' if rate >= 2000 else 'MISSED'}")
    print(f"{'p50 latency (ms)':26}{on['p50_ms']:>14.1f}{off['p50_ms']:>14.1f}")
    print(f"{'p99 latency (ms)':26}{on['p99_ms']:>14.1f}{off['p99_ms']:>14.1f}{'< 50':>12}"
          f"   {'ok' if on['p99_ms'] < 50 else 'MISSED'}")
    print(f"{'lost (acked, not staged)':26}{lost:>14}{'-':>14}{'0':>12}   {'ok' if lost == 0 else 'MISSED'}")
    print(f"({on['acknowledged']:,} acknowledged and {on['staged']:,} staged in {on['seconds']:.0f}s; "
          f"non-2xx {on['non2xx']}, socket errors {on['socket_errors']})")


if __name__ == "__main__":
    main()
