"""End-to-end latency: from a call's end until it is queryable in the published warehouse.duckdb, per source.

Starts the real stack as `make up` does (include/demo/run_up.py: Airflow standalone with the default schedules,
the KAZOO and While1 PBX simulators, Redis as the Enigma dialer's, the Voicenter receiver), in its own data dir,
AIRFLOW_HOME, PostgreSQL metadata database (dropped at the end) and free ports, then feeds "live" calls:

* KAZOO and PBX: a data file for each simulator, written before the stack starts, with calls whose ends fall
  throughout the run. Serving them by time is enough: KAZOO is asked only for closed intervals of creation
  time (= the call's end), and the PBX simulator hides a row until its call has ended by the real clock.
* Enigma: each call's CDR message LPUSHed to the dialer's Redis list at the call's end.
* Voicenter: each call's CDR POSTed to the receiver at the call's end.

Every ~20 s it opens warehouse.duckdb read-only, as an analyst would, and notes which known CDRs
(marts.fct_cdr by source and source_cdr_id) are there; a CDR became queryable when the build that first holds
it was published (main.build_info.published_at; the poll time if that is missing). It prints count, p50, p95
and max latency per source beside the targets (push sources: p95 under 10 minutes; pull sources: one pull
interval plus the warehouse's settle poke, from the configuration) and writes them to build/bench/.

The schedules are the defaults unless CDR_PULL_SCHEDULE is exported (for a short smoke run only):

    .venv/bin/python bench/latency.py                       # 75 minutes of calls, hourly pulls (~2.5 h in all)
    CDR_PULL_SCHEDULE='*/5 * * * *' .venv/bin/python bench/latency.py --minutes 8   # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(ROOT / "include" / "demo"))

import duckdb  # noqa: E402
import requests  # noqa: E402
from post_voicenter import acknowledged, post  # noqa: E402
from up_process import UpProcess  # noqa: E402

import run_up  # noqa: E402
from launch import free_port  # noqa: E402
from run_demo import DEMO_TOKEN  # noqa: E402

DEMO_DATA = ROOT / "include" / "demo_data"
OUT = ROOT / "build" / "bench"
GREGORIAN_UNIX_OFFSET = 62_167_219_200  # KAZOO's timestamps are Gregorian seconds
PBX_TZ = ZoneInfo("Europe/Bucharest")  # the demo pbx_default's timezone (run_demo.demo_environment)
ENIGMA_TZ = ZoneInfo("Africa/Johannesburg")
ENIGMA_KEY = "enigma:notifications:campaigns"
PUSH_SOURCES, PULL_SOURCES = ("enigma", "voicenter"), ("kazoo", "pbx")
PUSH_TARGET_SECONDS = 600
POLL_SECONDS = 20
# Call lengths; at least the PBX template's ring and hold times, so no row says more hold than call.
MIN_DURATION, MAX_DURATION = 60, 300


@dataclass
class Call:
    source: str
    cdr_id: str
    ends_at: float  # Unix seconds; for a pushed call, when it was pushed
    duration: int
    seen_at: float | None = None
    seen_by_poll: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.seen_at is None else self.seen_at - self.ends_at


@dataclass
class Plan:
    calls: list[Call] = field(default_factory=list)

    def of(self, source: str) -> list[Call]:
        return [c for c in self.calls if c.source == source]


def end_times(start: float, minutes: float, per_minute: float, rng: random.Random) -> list[float]:
    """Call ends spread evenly over the run, each jittered inside its slot (so they fall throughout intervals)."""
    count = max(1, round(minutes * per_minute))
    slot = minutes * 60 / count
    return [start + slot * (i + rng.random()) for i in range(count)]


# --- the pull sources' data files ---------------------------------------------------------------------------------


def kazoo_rows(ends: list[float], rng: random.Random) -> tuple[list[dict], list[Call]]:
    # One plain demo row as the template: latency does not depend on the words in a CDR.
    template = json.loads((DEMO_DATA / "kazoo_cdrs.json").read_text())[0]
    rows, calls = [], []
    for end in ends:
        row = dict(template)
        duration = rng.randint(MIN_DURATION, MAX_DURATION)
        start = int(end) - duration
        when = datetime.fromtimestamp(start, UTC)
        call_id = str(uuid.UUID(int=rng.getrandbits(128)))
        row.update(
            {
                "id": f"{when:%Y%m}-{call_id}",
                "call_id": call_id,
                "bridge_id": call_id,
                "other_leg_call_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "timestamp": start + GREGORIAN_UNIX_OFFSET,
                "duration_seconds": duration,
                "billing_seconds": max(0, duration - 10) if row.get("billing_seconds") else 0,
                "datetime": f"{when:%Y-%m-%d %H:%M:%S}",
                "unix_timestamp": start,
                "rfc_1036": f"{when:%a, %d %b %Y %H:%M:%S} GMT",
                "iso_8601": f"{when:%Y-%m-%d}",
                "interaction_id": f"{start + GREGORIAN_UNIX_OFFSET}-{call_id[:8]}",
            }
        )
        rows.append(row)
        calls.append(Call("kazoo", row["id"], start + duration, duration))
    return rows, calls


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def pbx_rows(ends: list[float], rng: random.Random) -> tuple[list[dict], list[Call]]:
    template = json.loads((DEMO_DATA / "pbx_cdrs.json").read_text())[0]
    rows, calls = [], []
    for i, end in enumerate(ends):
        row = dict(template)
        duration = rng.randint(MIN_DURATION, MAX_DURATION)
        start = int(end) - duration
        unique = f"{start}.{900 + i}"
        local = datetime.fromtimestamp(start, PBX_TZ)
        row.update(
            {
                "id": str(900_000 + i),  # ids grow in the order the PBX writes rows: at hang-up
                "uniqueid": unique,
                "linkedid": unique,
                "time": f"{local:%Y-%m-%d %H:%M:%S}",
                "time_end": f"{local + timedelta(seconds=duration):%Y-%m-%d %H:%M:%S}",
                "duration": _hms(duration),
                "bill_duration": _hms(max(0, duration - 10)),
                "bill_minutes": math.ceil(duration / 60),
                "recording_file": f"{unique}.wav" if row.get("recording_file") else None,
            }
        )
        rows.append(row)
        calls.append(Call("pbx", row["id"], start + duration, duration))
    return rows, calls


# --- the push sources, at each call's end ------------------------------------------------------------------------


def enigma_message(i: int, ended: float, duration: int) -> tuple[str, bytes]:
    call_ref = f"ENG-LAT-{i:06d}"
    dialed = datetime.fromtimestamp(ended - duration, ENIGMA_TZ)
    payload = {
        "extension": "3002",
        "number": "0115550199",
        "call_ref": call_ref,
        "contact_ref": f"CUST-{i:05d}",
        "dialed_at": dialed.isoformat(timespec="seconds"),
        "end_reason": "ANSWERED",
        "end_code": "200",
        "call_time": duration,
        "call_dir": "outbound",
        "recording_url": None,
        "ref": "RENEWALS",
    }
    return call_ref, json.dumps({"type": "cdr", "payload": payload}).encode()


def voicenter_cdr(i: int, ended: float, duration: int, template: dict) -> dict:
    started = int(ended) - duration
    return {
        **template,
        "ivruniqueid": f"{datetime.fromtimestamp(started, UTC):%Y%m%d}{900_000 + i}VC",
        "type": "Incoming Call",
        "status": "ANSWER",
        "time": started,
        "duration": duration,
        "dialtime": 5,
    }


def voicenter_template() -> dict:
    return next(c for c in json.loads((DEMO_DATA / "voicenter_cdrs.json").read_text()) if c["status"] == "ANSWER")


def push_at_ends(plan: Plan, schedule: dict[str, list[tuple[float, int]]], stop, push) -> None:
    """Push each call at its end, in end order, with ``push(i, source, now, duration)``, which gives the CDR's id
    once the receiving side has it (None: it refused); the pushed moment is the call's end."""
    events = sorted((end, source, duration) for source, items in schedule.items() for end, duration in items)
    for i, (end, source, duration) in enumerate(events):
        while not stop.is_set() and time.time() < end:
            stop.wait(min(1.0, end - time.time()))
        if stop.is_set():
            return
        now = time.time()
        cdr_id = push(i, source, now, duration)
        if cdr_id is not None:
            plan.calls.append(Call(source, cdr_id, now, duration))


def feed_push(plan: Plan, schedule: dict[str, list[tuple[float, int]]], redis_port: int, receiver_url: str, stop):
    """Enigma: LPUSH; Voicenter: POST, once each."""
    import redis

    client = redis.Redis(port=redis_port)
    template = voicenter_template()
    session = requests.Session()

    def push(i: int, source: str, now: float, duration: int) -> str | None:
        if source == "enigma":
            cdr_id, message = enigma_message(i, now, duration)
            client.lpush(ENIGMA_KEY, message)
            return cdr_id
        cdr = voicenter_cdr(i, now, duration, template)
        response = post(receiver_url, DEMO_TOKEN, cdr, "json", session)
        if response.status_code != 200 or not acknowledged("json", response):
            print(f"latency: the receiver refused {cdr['ivruniqueid']}: {response.status_code} {response.text[:200]}")
            return None
        return cdr["ivruniqueid"]

    push_at_ends(plan, schedule, stop, push)


# --- the stack ---------------------------------------------------------------------------------------------------


Stack = UpProcess


def drop_database(name: str) -> None:
    import psycopg2

    con = psycopg2.connect(host=run_up.PG_HOST, port=run_up.PG_PORT, user=run_up.PG_USER, dbname="postgres")
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
    finally:
        con.close()


# --- watching the warehouse --------------------------------------------------------------------------------------


def poll(warehouse: Path, plan: Plan) -> int:
    """Mark the known CDRs the published warehouse holds now; returns how many are still missing."""
    waiting = {(c.source, c.cdr_id): c for c in plan.calls if c.seen_at is None}
    if not waiting or not warehouse.exists():
        return len(waiting)
    now = time.time()
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            published = con.execute("select max(published_at) from main.build_info").fetchone()[0]
            rows = con.execute(
                "select source, source_cdr_id from marts.fct_cdr where source in ?", [[*PUSH_SOURCES, *PULL_SOURCES]]
            ).fetchall()
    except duckdb.Error as exc:  # a first build not yet published whole
        print(f"latency: warehouse not readable yet: {exc}", flush=True)
        return len(waiting)
    when = published.timestamp() if published is not None else now
    for key in rows:
        call = waiting.pop(key, None)
        if call is not None:
            # Published before the call ended cannot be: that build read a lake written after its end.
            call.seen_at, call.seen_by_poll = (when if when >= call.ends_at else now), now
    return len(waiting)


def interval_seconds() -> float:
    """The next pull interval's length: CDR_PULL_SCHEDULE (cdr.config) as the scheduler's own cron timetable."""
    import pendulum
    from airflow.timetables.interval import CronDataIntervalTimetable

    from cdr import config

    timetable = CronDataIntervalTimetable(config.pull_schedule(), timezone="UTC")
    first = timetable._get_next(pendulum.now("UTC"))
    return (timetable._get_next(first) - first).total_seconds()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a figure some call really had)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(plan: Plan, targets: dict[str, tuple[float, str]]) -> dict:
    result = {}
    for source in (*PUSH_SOURCES, *PULL_SOURCES):
        calls = plan.of(source)
        seen = [c.latency for c in calls if c.latency is not None]
        target, rule = targets[source]
        row = {"calls": len(calls), "queryable": len(seen), "missing": len(calls) - len(seen)}
        if seen:
            row.update(
                {
                    "p50_s": round(percentile(seen, 0.50), 1),
                    "p95_s": round(percentile(seen, 0.95), 1),
                    "max_s": round(max(seen), 1),
                }
            )
        row.update({"target_p95_s": target, "target": rule, "meets": bool(seen) and row["p95_s"] < target})
        result[source] = row
    return result


def print_table(result: dict) -> None:
    print(f"\n{'source':10} {'calls':>6} {'seen':>6} {'p50 s':>8} {'p95 s':>8} {'max s':>8}  target (p95)", flush=True)
    for source, r in result.items():
        figures = " ".join(f"{r.get(k, float('nan')):8.0f}" for k in ("p50_s", "p95_s", "max_s"))
        verdict = "met" if r["meets"] else "NOT met"
        print(
            f"{source:10} {r['calls']:6} {r['queryable']:6} {figures}  < {r['target_p95_s']:.0f} s "
            f"({r['target']}): {verdict}",
            flush=True,
        )


def plan_calls(
    work: Path, first_end: float, minutes: float, per_minute: float, rng: random.Random
) -> tuple[Plan, dict[str, list[tuple[float, int]]]]:
    """The pulled calls (written to ``work`` as the simulators' data files) and when each pushed call ends."""
    plan = Plan()
    kazoo, calls = kazoo_rows(end_times(first_end, minutes, per_minute, rng), rng)
    plan.calls += calls
    pbx, calls = pbx_rows(end_times(first_end, minutes, per_minute, rng), rng)
    plan.calls += calls
    (work / "kazoo_cdrs.json").write_text(json.dumps(kazoo))
    (work / "pbx_cdrs.json").write_text(json.dumps(pbx))
    push_schedule = {
        s: [(end, rng.randint(MIN_DURATION, MAX_DURATION)) for end in end_times(first_end, minutes, per_minute, rng)]
        for s in PUSH_SOURCES
    }
    return plan, push_schedule


def stack_env(work: Path, data_dir: Path, home: Path, database: str) -> dict[str, str]:
    """`make up`'s environment for a run of its own: data dir, Airflow home, metadata database, free ports, and
    the simulators serving ``plan_calls``' files."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "CDR_DATA_DIR": str(data_dir),
        "AIRFLOW__API__PORT": str(free_port()),
        "CDR_RECEIVER_PORT": str(free_port()),
        # The log servers' fixed defaults (8793, 8794) would clash with another stack on this machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        run_up.DB_ENV: run_up.ensure_postgres_database(database=database),
        run_up.KAZOO_DATA_ENV: str(work / "kazoo_cdrs.json"),
        run_up.PBX_DATA_ENV: str(work / "pbx_cdrs.json"),
    }
    env.pop(run_up.PAUSED_ENV, None)
    return env


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=75, help="how long calls end (default 75: a full hour)")
    parser.add_argument("--calls-per-minute", type=float, default=2, help="per source (default 2)")
    parser.add_argument("--startup-minutes", type=float, default=4, help="the stack's start-up, before calls end")
    parser.add_argument("--grace-minutes", type=float, default=10, help="wait past the slowest target")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the run's data dir and Airflow home")
    args = parser.parse_args(argv)

    from cdr import config
    from cdr.warehouse.settle import SETTLE_POKE_SECONDS

    schedule = config.pull_schedule()
    interval = interval_seconds()
    pull_target = interval + SETTLE_POKE_SECONDS
    targets = {
        **{s: (float(PUSH_TARGET_SECONDS), "push: 10 minutes") for s in PUSH_SOURCES},
        **{
            s: (pull_target, f"pull: one interval ({schedule}, {interval:.0f} s) + settle poke {SETTLE_POKE_SECONDS} s")
            for s in PULL_SOURCES
        },
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / f"latency-{stamp}"
    data_dir, home = work / "data", work / "airflow"
    home.mkdir(parents=True)
    first_end = time.time() + args.startup_minutes * 60
    plan, push_schedule = plan_calls(work, first_end, args.minutes, args.calls_per_minute, random.Random(args.seed))
    database = f"cdr_bench_{uuid.uuid4().hex[:10]}"
    env = stack_env(work, data_dir, home, database)
    print(
        f"latency: {len(plan.calls)} pulled and {sum(map(len, push_schedule.values()))} pushed calls ending from "
        f"{datetime.fromtimestamp(first_end, UTC):%H:%M:%S} UTC for {args.minutes:g} min; pull schedule {schedule}; "
        f"work dir {work}",
        flush=True,
    )
    stack = Stack(env, work / "make-up.log")
    stop = threading.Event()
    started = time.time()
    result: dict = {}
    try:
        redis_port = int(stack.wait_for(r"Enigma Redis: redis://127\.0\.0\.1:(\d+)", 120).group(1))
        receiver = f"http://127.0.0.1:{env['CDR_RECEIVER_PORT']}"
        stack.wait_for(r"^make up: unpaused", 600)
        ready = time.time()
        print(f"latency: stack up and unpaused after {ready - started:.0f} s", flush=True)
        feeder = threading.Thread(target=feed_push, args=(plan, push_schedule, redis_port, receiver, stop), daemon=True)
        feeder.start()
        last_end = first_end + args.minutes * 60
        deadline = last_end + max(PUSH_TARGET_SECONDS, pull_target) + args.grace_minutes * 60
        warehouse = data_dir / "warehouse.duckdb"
        next_report = time.time() + 300
        while time.time() < deadline:
            missing = poll(warehouse, plan)
            if not feeder.is_alive() and missing == 0:
                break
            if time.time() >= next_report:
                done = sum(c.seen_at is not None for c in plan.calls)
                print(f"latency: {done} of {len(plan.calls)} known CDRs queryable so far", flush=True)
                next_report += 300
            time.sleep(POLL_SECONDS)
        poll(warehouse, plan)
    finally:
        stop.set()
        result = summary(plan, targets)
        report = {
            "measured_at": stamp,
            "pull_schedule": schedule,
            "minutes": args.minutes,
            "calls_per_minute": args.calls_per_minute,
            "poll_seconds": POLL_SECONDS,
            "sources": result,
            "calls": [c.__dict__ for c in plan.calls],
        }
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"latency-{stamp}.json"
        path.write_text(json.dumps(report, indent=1))
        (OUT / "latency-latest.json").write_text(json.dumps(report, indent=1))
        stack.stop()
        drop_database(database)
        print_table(result)
        print(f"\nlatency: figures in {path}; the stack's log in {work / 'make-up.log'}", flush=True)
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
