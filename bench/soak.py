"""A soak with faults: the whole stack of `make up` while the four sources send, and a scheduled script breaks it.

The stack is `make up`'s (include/demo/run_up.py: Airflow standalone, the KAZOO and While1 PBX simulators, the
Enigma dialer's Redis, the Voicenter receiver), in its own data dir, AIRFLOW_HOME, PostgreSQL metadata database
(dropped at the end) and free ports, with pulls every 5 minutes (CDR_PULL_SCHEDULE). The calls are
bench/latency.py's: KAZOO and PBX rows served once their call has ended, Enigma messages LPUSHed and Voicenter
CDRs POSTed at each call's end. The senders behave as the real ones do: Voicenter re-sends until it reads `Err 0`
(rotating JSON, XML-RPC and form, and every fifth CDR sent twice), the dialer re-pushes until Redis answers.

Meanwhile, at fixed minutes, the fault script:

* restarts the receiver the rolling way (a second receiver on the same landing folder, the sender moved to it,
  then the old one SIGKILLed), twice;
* SIGKILLs a KAZOO pull and a PBX pull mid-pull (its task process, once it holds a connection to the source);
* SIGKILLs the scheduler, then starts it again 20 s later;
* SIGKILLs the Redis server, then starts it again on its folder (append-only, synced per write, as a dialer's);
* fills the data dir's file system (a tmpfs of ``--disk-mb`` mounted there; root is needed) for a minute, then
  frees it.

At the end it waits for the published warehouse to hold every CDR a sender got acknowledged or a simulator served,
then counts each in marts.fct_cdr: the table of faults and the table of counts (once, missing, twice) are printed
and written to build/bench/soak-latest.json. Not part of `make test`: 30 minutes of calls take about 45 in all.

    .venv/bin/python bench/soak.py                 # 30 minutes of calls
    .venv/bin/python bench/soak.py --minutes 10    # a shorter run, fewer faults' gaps
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import xmlrpc.client
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(ROOT / "include" / "demo"))

import duckdb  # noqa: E402
import psutil  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from latency import (  # noqa: E402
    ENIGMA_KEY,
    Plan,
    drop_database,
    enigma_message,
    plan_calls,
    push_at_ends,
    stack_env,
    voicenter_cdr,
    voicenter_template,
)
from post_voicenter import FORMATS, post  # noqa: E402
from up_process import UpProcess  # noqa: E402

import run_up  # noqa: E402
from launch import free_port, redis_command, start_receiver  # noqa: E402
from run_demo import AIRFLOW, DEMO_TOKEN  # noqa: E402

OUT = ROOT / "build" / "bench"
PULL_SCHEDULE = "*/5 * * * *"
SOURCES = ("kazoo", "pbx", "enigma", "voicenter")
TASK_TITLE = re.compile(r"airflow worker -- ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@dataclass
class Fault:
    at_minute: float
    name: str
    started: float | None = None
    took_s: float | None = None
    detail: str = ""


@dataclass
class Counters:
    """What the senders saw, by what happened to a try."""

    voicenter_posts: int = 0
    voicenter_err2: int = 0
    voicenter_refused_other: int = 0
    voicenter_connection_errors: int = 0
    voicenter_resent_duplicates: int = 0
    enigma_pushes: int = 0
    enigma_connection_errors: int = 0


@dataclass
class Run:
    receiver_url: str
    redis_port: int
    plan: Plan = field(default_factory=Plan)
    counters: Counters = field(default_factory=Counters)
    extra: list[subprocess.Popen] = field(default_factory=list)  # processes the faults started
    receivers: list = field(default_factory=list)


# --- the senders ------------------------------------------------------------------------------------------------


def err_code(fmt: str, response: requests.Response) -> int | None:
    """The receiver's `Err` answer in the format it was asked in; None when there is none to read."""
    try:
        if fmt == "json":
            return response.json().get("Err")
        if fmt == "xmlrpc":
            return xmlrpc.client.loads(response.text)[0][0].get("Err")
        found = re.search(r"Err=(\d+)", response.text)
        return int(found.group(1)) if found else None
    except (ValueError, xmlrpc.client.Error, IndexError, AttributeError):
        return None


def send_voicenter(run: Run, cdr: dict, fmt: str, stop: threading.Event, session: requests.Session) -> bool:
    """As Voicenter does: re-send until the answer is `Err 0` (a refusal, an error or no answer: try again)."""
    while not stop.is_set():
        run.counters.voicenter_posts += 1
        try:
            response = post(run.receiver_url, DEMO_TOKEN, cdr, fmt, session)
        except requests.RequestException:
            run.counters.voicenter_connection_errors += 1
            session.close()
            stop.wait(1)
            continue
        code = err_code(fmt, response)  # Err 2 comes with a 503, so a load balancer also sees it
        if code == 0 and response.status_code == 200:
            return True
        if code == 2:
            run.counters.voicenter_err2 += 1
        else:
            run.counters.voicenter_refused_other += 1
        stop.wait(1)
    return False


def push_enigma(run: Run, message: bytes, stop: threading.Event) -> bool:
    """As the dialer does: push again until Redis answers the LPUSH."""
    while not stop.is_set():
        run.counters.enigma_pushes += 1
        try:
            redis.Redis(port=run.redis_port, socket_timeout=5).lpush(ENIGMA_KEY, message)
            return True
        except redis.RedisError:
            run.counters.enigma_connection_errors += 1
            stop.wait(1)
    return False


def feed_push(run: Run, schedule: dict[str, list[tuple[float, int]]], stop: threading.Event) -> None:
    template = voicenter_template()
    session = requests.Session()

    def push(i: int, source: str, now: float, duration: int) -> str | None:
        if source == "enigma":
            cdr_id, message = enigma_message(i, now, duration)
            return cdr_id if push_enigma(run, message, stop) else None
        cdr = voicenter_cdr(i, now, duration, template)
        fmt = FORMATS[i % len(FORMATS)]
        if not send_voicenter(run, cdr, fmt, stop, session):
            return None
        if i % 5 == 0:  # Voicenter re-sends now and then: the same CDR must count once
            run.counters.voicenter_resent_duplicates += 1
            send_voicenter(run, cdr, fmt, stop, session)
        return cdr["ivruniqueid"]

    push_at_ends(run.plan, schedule, stop, push)


# --- finding the stack's processes --------------------------------------------------------------------------------


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def find(predicate) -> psutil.Process | None:
    """The first live process of this run (the stack's, and those the faults started) ``predicate`` takes."""
    for proc in descendants(os.getpid()):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and predicate(proc):
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def title(proc: psutil.Process) -> str:
    """Its command line as one string (a process that set its title may show it as one word or several)."""
    return " ".join(proc.cmdline())


# --- the faults ---------------------------------------------------------------------------------------------------


def receiver_rolling_restart(run: Run, data_dir: Path) -> str:
    serving = run.receiver_url.rsplit(":", 1)[1]
    old = find(
        lambda p: "cdr-receiver" in title(p) and p.environ().get("CDR_RECEIVER_PORT") == serving,
    )
    if old is None:
        return f"no receiver found on :{serving}"
    port = free_port()
    env = {**old.environ(), "CDR_RECEIVER_PORT": str(port)}
    new = start_receiver(str(data_dir), DEMO_TOKEN, port=port, env=env)
    run.receivers.append(new)
    run.receiver_url = new.url
    time.sleep(3)  # both up on one folder: the old one still answers what reached it
    old.send_signal(signal.SIGKILL)
    return f"new receiver on :{port} beside the old (pid {old.pid}) for 3 s, then the old SIGKILLed"


def task_mid_pull(dag_id: str, database: str, source_port: int, timeout: float = 480) -> str:
    """SIGKILL the task process of a pull of ``dag_id`` once it holds a connection to its source."""
    import psycopg2

    deadline = time.monotonic() + timeout
    con = psycopg2.connect(host=run_up.PG_HOST, port=run_up.PG_PORT, user=run_up.PG_USER, dbname=database)
    con.autocommit = True
    known: dict[str, tuple | None] = {}
    try:
        while time.monotonic() < deadline:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                # a task's process titles itself with its task instance's id (the executor's own: its name)
                found = TASK_TITLE.match(" ".join(proc.info["cmdline"] or []))
                if not found:
                    continue
                ti_id = found.group(1)
                if ti_id not in known:
                    with con.cursor() as cur:
                        cur.execute("select dag_id, task_id, run_id from task_instance where id = %s", [ti_id])
                        known[ti_id] = cur.fetchone()
                row = known[ti_id]
                if not row or row[0] != dag_id:
                    continue
                try:
                    talking = any(c.raddr and c.raddr.port == source_port for c in proc.net_connections("tcp"))
                except psutil.NoSuchProcess:
                    continue
                if talking:
                    proc.send_signal(signal.SIGKILL)
                    return f"{row[0]}.{row[1]} of {row[2]} SIGKILLed while connected to its source"
            time.sleep(0.02)
    finally:
        con.close()
    return f"no {dag_id} pull caught mid-pull in {timeout:.0f} s"


def scheduler_kill(run: Run, work: Path) -> str:
    old = find(lambda p: p.cmdline()[1:3] == [AIRFLOW, "scheduler"] or title(p).startswith("airflow scheduler"))
    if old is None:
        return "no scheduler found"
    env = old.environ()
    old.send_signal(signal.SIGKILL)
    time.sleep(20)
    log = open(work / "scheduler-restarted.log", "ab")  # noqa: SIM115 (the process outlives this function)
    run.extra.append(subprocess.Popen([AIRFLOW, "scheduler"], env=env, stdout=log, stderr=log))
    return f"scheduler (pid {old.pid}) SIGKILLed; a new one started 20 s later"


def redis_kill(run: Run, redis_dir: Path) -> str:
    old = find(lambda p: p.name() == "redis-server")
    if old is None:
        return "no redis-server found"
    old.send_signal(signal.SIGKILL)
    time.sleep(10)
    command = redis_command(shutil.which("redis-server"), run.redis_port, str(redis_dir))
    run.extra.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
    client = redis.Redis(port=run.redis_port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            length = client.llen(ENIGMA_KEY)
            return f"redis-server SIGKILLed; started again on its folder 10 s later ({length} messages waiting)"
        except redis.RedisError:
            time.sleep(0.2)
    return "redis-server SIGKILLed; did not answer again within 60 s"


def disk_fill(run: Run, data_dir: Path, hold_seconds: float) -> str:
    ballast = data_dir / "soak-ballast"
    posts, err2 = run.counters.voicenter_posts, run.counters.voicenter_err2
    filled = 0
    with open(ballast, "wb") as handle:
        for chunk in (64 << 20, 1 << 20, 4096):
            while True:
                try:
                    os.posix_fallocate(handle.fileno(), filled, chunk)
                    filled += chunk
                except OSError:
                    break
    free = shutil.disk_usage(data_dir).free
    time.sleep(hold_seconds)
    ballast.unlink()
    return (
        f"{filled >> 20} MiB taken ({free} bytes left) for {hold_seconds:.0f} s, then freed; meanwhile "
        f"{run.counters.voicenter_posts - posts} Voicenter posts, {run.counters.voicenter_err2 - err2} answered Err 2"
    )


def mount_tmpfs(path: Path, megabytes: int) -> str | None:
    """None once ``path`` is a tmpfs of that size; else why not."""
    if os.geteuid() != 0:
        return "not root: no tmpfs to fill"
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0750", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    return None if done.returncode == 0 else f"mount failed: {done.stderr.strip()}"


def run_faults(faults: list[Fault], actions: dict, first_end: float, stop: threading.Event) -> None:
    for fault in faults:
        at = first_end + fault.at_minute * 60
        while not stop.is_set() and time.time() < at:
            stop.wait(min(1.0, at - time.time()))
        if stop.is_set():
            return
        fault.started = time.time()
        print(f"soak: fault at +{fault.at_minute:g} min: {fault.name}", flush=True)
        try:
            fault.detail = actions[fault.name]()
        except Exception as exc:  # a fault that could not be made is reported, not fatal
            fault.detail = f"could not be made: {type(exc).__name__}: {exc}"
        fault.took_s = round(time.time() - fault.started, 1)
        print(f"soak:   {fault.detail}", flush=True)


# --- the verdict --------------------------------------------------------------------------------------------------


def count_in_warehouse(warehouse: Path, plan: Plan) -> tuple[dict[tuple[str, str], int], str | None]:
    """How many times marts.fct_cdr holds each known CDR, and when that warehouse was published."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            published = con.execute("select max(published_at) from main.build_info").fetchone()[0]
            rows = con.execute(
                "select source, source_cdr_id, count(*) from marts.fct_cdr where source in ? group by all",
                [list(SOURCES)],
            ).fetchall()
    except duckdb.Error as exc:
        print(f"soak: warehouse not readable yet: {exc}", flush=True)
        return {}, None
    counts = {(source, cdr_id): n for source, cdr_id, n in rows}
    return {(c.source, c.cdr_id): counts.get((c.source, c.cdr_id), 0) for c in plan.calls}, str(published)


def tally(plan: Plan, counts: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    result = {}
    for source in SOURCES:
        seen = [counts.get((c.source, c.cdr_id), 0) for c in plan.of(source)]
        result[source] = {
            "sent": len(seen),
            "once": sum(n == 1 for n in seen),
            "missing": sum(n == 0 for n in seen),
            "twice_or_more": sum(n > 1 for n in seen),
        }
    return result


def print_tables(faults: list[Fault], result: dict, counters: Counters) -> None:
    print(f"\n{'minute':>6}  {'fault':26} {'took s':>7}  what happened", flush=True)
    for f in faults:
        print(f"{f.at_minute:6g}  {f.name:26} {f.took_s or 0:7.1f}  {f.detail}", flush=True)
    print(f"\n{'source':10} {'acked/served':>12} {'once':>6} {'missing':>8} {'twice+':>7}", flush=True)
    for source, r in result.items():
        print(f"{source:10} {r['sent']:12} {r['once']:6} {r['missing']:8} {r['twice_or_more']:7}", flush=True)
    print(f"\nsenders: {json.dumps(counters.__dict__)}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30, help="how long calls end and faults happen")
    parser.add_argument("--calls-per-minute", type=float, default=6, help="per source (default 6)")
    parser.add_argument("--startup-minutes", type=float, default=4)
    parser.add_argument("--disk-mb", type=int, default=4096, help="the data dir's tmpfs")
    parser.add_argument("--disk-full-seconds", type=float, default=60)
    parser.add_argument("--grace-minutes", type=float, default=15, help="wait for the last CDRs after the calls")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--keep", action="store_true", help="keep the run's data dir and Airflow home")
    args = parser.parse_args(argv)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = OUT / f"soak-{stamp}"
    data_dir, home, redis_dir = work / "data", work / "airflow", work / "redis"
    for folder in (home, redis_dir):
        folder.mkdir(parents=True)
    no_disk_fault = mount_tmpfs(data_dir, args.disk_mb)
    first_end = time.time() + args.startup_minutes * 60
    plan, push_schedule = plan_calls(work, first_end, args.minutes, args.calls_per_minute, random.Random(args.seed))
    database = f"cdr_soak_{uuid.uuid4().hex[:10]}"
    env = {**stack_env(work, data_dir, home, database), "CDR_PULL_SCHEDULE": PULL_SCHEDULE}
    env[run_up.REDIS_DIR_ENV] = str(redis_dir)
    m = args.minutes
    faults = [
        Fault(0.10 * m, "receiver rolling restart"),
        Fault(0.20 * m, "KAZOO task mid-pull"),
        Fault(0.35 * m, "scheduler SIGKILL"),
        Fault(0.50 * m, "Redis SIGKILL"),
        Fault(0.62 * m, "disk full, then freed"),
        Fault(0.75 * m, "receiver rolling restart"),
        Fault(0.85 * m, "PBX task mid-pull"),
    ]
    print(
        f"soak: {args.minutes:g} min of calls from {datetime.fromtimestamp(first_end, UTC):%H:%M:%S} UTC, "
        f"{args.calls_per_minute:g} a minute per source; pulls {PULL_SCHEDULE}; work dir {work}",
        flush=True,
    )
    stack = UpProcess(env, work / "make-up.log")
    stop = threading.Event()
    result: dict = {}
    run: Run | None = None
    try:
        redis_port = int(stack.wait_for(r"Enigma Redis: redis://127\.0\.0\.1:(\d+)", 120).group(1))
        kazoo_port = int(stack.wait_for(r"KAZOO simulator: http://127\.0\.0\.1:(\d+)", 10).group(1))
        pbx_port = int(stack.wait_for(r"While1 PBX simulator: http://127\.0\.0\.1:(\d+)", 10).group(1))
        stack.wait_for(r"^make up: unpaused", 600)
        run = Run(f"http://127.0.0.1:{env['CDR_RECEIVER_PORT']}", redis_port, plan)
        actions = {
            "receiver rolling restart": lambda: receiver_rolling_restart(run, data_dir),
            "KAZOO task mid-pull": lambda: task_mid_pull("kazoo_cdrs", database, kazoo_port),
            "PBX task mid-pull": lambda: task_mid_pull("pbx_cdrs", database, pbx_port),
            "scheduler SIGKILL": lambda: scheduler_kill(run, work),
            "Redis SIGKILL": lambda: redis_kill(run, redis_dir),
            "disk full, then freed": (
                (lambda: f"skipped: {no_disk_fault}")
                if no_disk_fault
                else (lambda: disk_fill(run, data_dir, args.disk_full_seconds))
            ),
        }
        print(f"soak: stack up after {time.time() - (first_end - args.startup_minutes * 60):.0f} s", flush=True)
        feeder = threading.Thread(target=feed_push, args=(run, push_schedule, stop), daemon=True)
        breaker = threading.Thread(target=run_faults, args=(faults, actions, first_end, stop), daemon=True)
        feeder.start()
        breaker.start()
        deadline = first_end + args.minutes * 60 + args.grace_minutes * 60
        warehouse = data_dir / "warehouse.duckdb"
        next_report = time.time() + 300
        while time.time() < deadline:
            time.sleep(30)
            if not warehouse.exists():
                continue
            counts, _ = count_in_warehouse(warehouse, run.plan)
            missing = sum(n == 0 for n in counts.values())
            if not feeder.is_alive() and not breaker.is_alive() and missing == 0:
                break
            if time.time() >= next_report:
                print(f"soak: {len(counts) - missing} of {len(counts)} CDRs in fct_cdr so far", flush=True)
                next_report += 300
        stop.set()
        counts, published = count_in_warehouse(warehouse, run.plan)
        result = tally(run.plan, counts)
        report = {
            "measured_at": stamp,
            "minutes": args.minutes,
            "calls_per_minute": args.calls_per_minute,
            "pull_schedule": PULL_SCHEDULE,
            "published_at": published,
            "faults": [f.__dict__ for f in faults],
            "sources": result,
            "senders": run.counters.__dict__,
            "not_once": [{"source": s, "cdr_id": i, "count": n} for (s, i), n in sorted(counts.items()) if n != 1],
        }
        OUT.mkdir(parents=True, exist_ok=True)
        for path in (OUT / f"soak-{stamp}.json", OUT / "soak-latest.json"):
            path.write_text(json.dumps(report, indent=1))
    finally:
        stop.set()
        stack.stop()
        for proc in run.extra if run else []:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for receiver in run.receivers if run else []:
            receiver.stop()
        drop_database(database)
        if result and run:
            print_tables(faults, result, run.counters)
        print(f"\nsoak: figures in {OUT / 'soak-latest.json'}; the stack's log in {work / 'make-up.log'}", flush=True)
        if args.keep:
            print(f"soak: kept {work}" + ("" if no_disk_fault else f" (its data dir is a tmpfs: umount {data_dir})"))
        else:
            if not no_disk_fault:
                subprocess.run(["umount", "-l", str(data_dir)], check=False)
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
