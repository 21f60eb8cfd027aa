"""Benchmark: cdr-receiver against its ceiling, and under attack (issues 12 and 15).

1. Ceiling. For each body format (JSON, XML-RPC, form), wrk posts CDRs with unique ids (32 connections) in
   alternating rounds (5 s each, 5 of each: this machine's speed drifts by +-15% within minutes, and alternating
   lets the drift fall on both alike) to the ceiling, bench/voicenter_ceiling.py: a bare Starlette app outside
   the product, under the receiver's own uvicorn settings, that parses the same body and answers Err 0 without
   storing; then to the real `cdr-receiver`, which answers Err 0 only once the CDR is synced to disk. Lost is
   judged by id: wrk runs one connection per thread, so each thread's n-th response answers its n-th request and
   the acknowledged ids are known exactly; each must be in the staged segments.
   Targets: receiver >= 0.8x the ceiling's acknowledged rate, p99 < 20 ms, 0 lost.
2. Flood. Honest senders (16 connections, JSON) alone, then while attackers, each kind from a loopback address
   of its own (bench/voicenter_flood.py, bench/voicenter_slow_clients.py), hold 300 kept-alive connections
   sending wrong-token requests, 32 connections sending endless headers (issue 29's probes) and 100 slow
   clients sending half a request, in alternating rounds too.
   Targets: the honest acknowledged rate under the flood >= 0.5x the rate alone; 0 lost; the receiver's peak
   memory under the flood < MEMORY_BOUND (128 MB; it idles at about 40).

Figures are ratios taken in one run on one machine: absolute rates on a shared 2-core machine mean little. The
server's CPU time per acknowledged CDR is printed beside them: it depends far less on what else the machine runs.
Run: .venv/bin/python bench/voicenter_receiver.py [--seconds 5] [--rounds 5] [--connections 32] [--no-flood]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
from launch import Simulator, free_port, start_receiver  # noqa: E402

TOKEN = "bench-token-0123456789abcdefghijklmnopqrstuvwxyz"
WRONG_TOKEN_CONNECTIONS, HUGE_HEADER_CONNECTIONS = 300, 32  # issue 29's probes
MEMORY_BOUND = 128 * 10**6  # the receiver's peak resident memory under the flood, in bytes
FORMATS = ("json", "xmlrpc", "form")
LUA = ROOT / "bench" / "voicenter_post.lua"


def wrk(
    url: str,
    seconds: int,
    connections: int,
    fmt: str,
    nack_prefix: str | None,
    token: str = TOKEN,
    threads: int | None = None,
) -> subprocess.Popen:
    command = [
        "wrk",
        f"-t{threads or connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(LUA),
        f"{url}/voicenter/cdr?token={token}",
        "--",
        fmt,
        *([nack_prefix] if nack_prefix else []),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def result_of(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {out[-500:]}")
    return json.loads(re.search(r"RESULT (\{.*\})", out).group(1))


def acknowledged_ids(result: dict, nack_prefix: str) -> set[str]:
    ids = set()
    for tid, answered in result["answered"].items():
        nack_file = Path(f"{nack_prefix}-{tid}.nack")
        nacks = {int(n) for n in nack_file.read_text().split()} if nack_file.exists() else set()
        ids |= {f"BENCH-{tid}-{n}" for n in range(1, answered + 1) if n not in nacks}
    return ids


def staged_ids(data_dir: Path) -> set[str]:
    ids = set()
    for segment in (data_dir / "landing" / "voicenter").glob("*.jsonl*"):
        data = segment.read_bytes()  # whole lines (then zeros, were it still open)
        ids |= {orjson.loads(line)["cdr"]["ivruniqueid"] for line in data[: data.rfind(b"\n") + 1].splitlines()}
    return ids


def start_ceiling() -> Simulator:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "voicenter_ceiling.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            requests.post(f"{url}/voicenter/cdr", data=b"{}", timeout=1)
            return Simulator(process, url)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the ceiling app did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): what a request costs, whatever else shares the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> int:
    """A process's peak resident memory in bytes (Linux: VmHWM)."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1)) * 1024


def measure_receiver(tmp: Path, run: callable) -> tuple[dict, int, int]:
    """Run ``run(url, nack_prefix, pid)`` against a fresh receiver; return its result, acknowledged and lost
    counts."""
    data = tmp / f"data-{time.monotonic_ns()}"
    prefix = str(tmp / f"nack-{time.monotonic_ns()}")
    with start_receiver(str(data), TOKEN) as receiver:
        before = cpu_seconds(receiver.process.pid)
        result = run(receiver.url, prefix, receiver.process.pid)
        result["cpu"] = cpu_seconds(receiver.process.pid) - before
    acked = acknowledged_ids(result, prefix)
    lost = len(acked - staged_ids(data))
    shutil.rmtree(data)  # a round stages ~100 MB: a run must not slow its own later rounds by filling the disk
    return result, len(acked), lost


def line(label: str, *cells: str) -> None:
    print(f"{label:34}" + "".join(f"{cell:>14}" for cell in cells))


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="length of one round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--no-flood", action="store_true")
    args = parser.parse_args()
    subprocess.run([str(ROOT / "scripts" / "need.sh"), "wrk=wrk"], check=True)
    secs, conns = args.seconds, args.connections
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-voicenter-") as tmp_name:
        tmp = Path(tmp_name)
        for fmt in args.formats.split(","):
            tops, gots = [], []
            for round_ in range(1, args.rounds + 1):
                print(
                    f"{fmt} round {round_}/{args.rounds}: ceiling, then cdr-receiver ({conns} connections, "
                    f"{secs}s each) ...",
                    flush=True,
                )
                with start_ceiling() as ceiling:
                    before = cpu_seconds(ceiling.process.pid)
                    tops.append(result_of(wrk(ceiling.url, secs, conns, fmt, None)))
                    tops[-1]["cpu"] = cpu_seconds(ceiling.process.pid) - before
                gots.append(
                    measure_receiver(
                        tmp, lambda url, prefix, _pid, fmt=fmt: result_of(wrk(url, secs, conns, fmt, prefix))
                    )
                )
            rows.append((fmt, tops, gots))
        flood = None
        if not args.no_flood:
            honest = 16
            alone, under = [], []

            def attacked(url: str, prefix: str, pid: int) -> dict:
                slow = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "voicenter_slow_clients.py"),
                        "--url",
                        url,
                        "--clients",
                        "100",
                        "--seconds",
                        str(secs + 3),
                        "--source",
                        "127.0.0.4",
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                bad = subprocess.Popen(
                    [
                        sys.executable,
                        str(ROOT / "bench" / "voicenter_flood.py"),
                        "--url",
                        url,
                        "--wrong-token",
                        str(WRONG_TOKEN_CONNECTIONS),
                        "--huge-headers",
                        str(HUGE_HEADER_CONNECTIONS),
                        "--seconds",
                        str(secs + 3),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                time.sleep(1.5)
                result = result_of(wrk(url, secs, honest, "json", prefix))
                result["flood"] = json.loads(re.search(r"FLOOD (\{.*\})", bad.communicate()[0]).group(1))
                result["slow"] = json.loads(re.search(r"SLOW (\{.*\})", slow.communicate()[0]).group(1))
                result["peak_rss"] = peak_rss(pid)
                return result

            for round_ in range(1, args.rounds + 1):
                print(
                    f"flood round {round_}/{args.rounds}: {honest} honest connections alone, then under "
                    f"{WRONG_TOKEN_CONNECTIONS} wrong-token and {HUGE_HEADER_CONNECTIONS} huge-header connections "
                    "and 100 slow clients ...",
                    flush=True,
                )

                def quiet(url: str, prefix: str, pid: int) -> dict:
                    result = result_of(wrk(url, secs, honest, "json", prefix))
                    result["peak_rss"] = peak_rss(pid)
                    return result

                alone.append(measure_receiver(tmp, quiet))
                under.append(measure_receiver(tmp, attacked))
            flood = (alone, under)

    def rate(runs: list) -> float:
        return sum(acked for _, acked, _ in runs) / sum(result["seconds"] for result, _, _ in runs)

    print(
        f"\n{args.rounds} rounds of {secs}s each, ceiling and receiver alternating; rates over all rounds, "
        "p99 the median of the rounds'"
    )
    line("", "ceiling", "cdr-receiver", "ratio", "target")
    for fmt, tops, gots in rows:
        top_rate = sum(t["requests"] - t["non2xx"] for t in tops) / sum(t["seconds"] for t in tops)
        got_rate = rate(gots)
        ratio = got_rate / top_rate
        top_p99, got_p99 = median([t["p99_ms"] for t in tops]), median([r["p99_ms"] for r, _, _ in gots])
        lost = sum(lost for _, _, lost in gots)
        line(
            f"{fmt}: acknowledged CDRs/s",
            f"{top_rate:,.0f}",
            f"{got_rate:,.0f}",
            f"{ratio:.2f}x",
            ">= 0.80x",
            "ok" if ratio >= 0.8 else "MISSED",
        )
        line(
            f"{fmt}: p99 latency (ms)",
            f"{top_p99:.1f}",
            f"{got_p99:.1f}",
            "",
            "< 20",
            "ok" if got_p99 < 20 else "MISSED",
        )
        line(f"{fmt}: lost (acked, not staged)", "-", f"{lost}", "", "0", "ok" if lost == 0 else "MISSED")
        top_cpu = 1e6 * sum(t["cpu"] for t in tops) / sum(t["requests"] - t["non2xx"] for t in tops)
        got_cpu = 1e6 * sum(r["cpu"] for r, _, _ in gots) / max(1, sum(a for _, a, _ in gots))
        line(
            f"{fmt}: server CPU per ack (us)",
            f"{top_cpu:.0f}",
            f"{got_cpu:.0f}",
            f"{top_cpu / got_cpu:.2f}x",
            "(information)",
        )
        print(
            f"  ({sum(a for _, a, _ in gots):,} acknowledged by id; per round "
            + ", ".join(
                f"{(t['requests'] - t['non2xx']) / t['seconds']:,.0f} vs {a / r['seconds']:,.0f}"
                for t, (r, a, _) in zip(tops, gots)
            )
            + f"; non-2xx {sum(r['non2xx'] for r, _, _ in gots)}, socket errors "
            f"{sum(r['socket_errors'] for r, _, _ in gots)})"
        )
        ok = ok and ratio >= 0.8 and got_p99 < 20 and lost == 0
    if flood:
        alone, under = flood
        ratio = rate(under) / rate(alone)
        lost_alone, lost_under = sum(x for _, _, x in alone), sum(x for _, _, x in under)
        print()
        line("honest senders (16 connections)", "alone", "under flood", "ratio", "target")
        line(
            "acknowledged CDRs/s",
            f"{rate(alone):,.0f}",
            f"{rate(under):,.0f}",
            f"{ratio:.2f}x",
            ">= 0.50x",
            "ok" if ratio >= 0.5 else "MISSED",
        )
        line(
            "p99 latency (ms)",
            f"{median([r['p99_ms'] for r, _, _ in alone]):.1f}",
            f"{median([r['p99_ms'] for r, _, _ in under]):.1f}",
        )
        line(
            "lost (acked, not staged)",
            f"{lost_alone}",
            f"{lost_under}",
            "",
            "0",
            "ok" if lost_alone == lost_under == 0 else "MISSED",
        )
        peak = max(r["peak_rss"] for r, _, _ in under)
        line(
            "receiver's peak memory (MB)",
            f"{max(r['peak_rss'] for r, _, _ in alone) / 1e6:.0f}",
            f"{peak / 1e6:.0f}",
            "",
            f"< {MEMORY_BOUND / 1e6:.0f}",
            "ok" if peak < MEMORY_BOUND else "MISSED",
        )
        wrong = Counter()
        huge = Counter()
        for r, _, _ in under:
            wrong.update(r["flood"]["wrong_token"])
            huge.update(r["flood"]["huge_headers"])
        slow = [r["slow"] for r, _, _ in under]
        flood_seconds = sum(r["flood"]["seconds"] for r, _, _ in under)
        print(
            f"  (wrong-token flood, {WRONG_TOKEN_CONNECTIONS} kept-alive connections from 127.0.0.2: "
            f"{wrong['401']:,} answered 401 ({wrong['401'] / flood_seconds:,.0f}/s) on "
            f"{wrong['connections']:,} connections, {wrong['503']:,} answered 503 (past a connection cap); "
            f"huge headers, {HUGE_HEADER_CONNECTIONS} connections from 127.0.0.3: {huge['431']:,} answered 431 "
            f"on {huge['connections']:,} connections, {huge['503']:,} refused 503, "
            f"{huge['header bytes sent'] / 1e6:,.0f} MB of header sent; slow clients from 127.0.0.4: "
            f"{sum(s['opened'] for s in slow)} connections opened, {sum(s['closed_by_server'] for s in slow)} "
            f"closed by the receiver ({sum(s['answered'] for s in slow)} of them answered), "
            f"{sum(s['refused'] for s in slow)} connects refused)"
        )
        ok = ok and ratio >= 0.5 and lost_alone == lost_under == 0 and peak < MEMORY_BOUND
    print("\nall targets met" if ok else "\nsome targets MISSED")


if __name__ == "__main__":
    os.environ.pop("CDR_VOICENTER_TOKEN", None)
    main()
