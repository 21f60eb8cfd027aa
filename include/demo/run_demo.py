"""`make demo`: run the whole pipeline once on the built-in demo sources and show what reached the warehouse.

Starts the KAZOO and While1 PBX simulators and a throwaway Redis (as the Enigma dialer's) on free loopback
ports, has the dialer's demo messages pushed, points the Connections at them (through
the environment, as production would), runs `airflow dags test` for each pull DAG, then cdr_warehouse and
cdr_reports (the daily report of the demo day), queries the published warehouse.duckdb and ends with the
report's path.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(ROOT / "include" / "demo"))

import duckdb  # noqa: E402
from post_voicenter import post_all  # noqa: E402

from cdr import access, config  # noqa: E402
from launch import start, start_receiver, start_redis  # noqa: E402

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ENIGMA_MESSAGES = ROOT / "include" / "demo_data" / "enigma_messages.jsonl"
VOICENTER_CDRS = ROOT / "include" / "demo_data" / "voicenter_cdrs.json"
DEMO_TOKEN = "demo-voicenter-token-not-for-production"
# The demo data covers 2026-11-19..21 (UTC); with a daily schedule the run at 2026-11-21 pulls 2026-11-20.
DEMO_SCHEDULE = "@daily"
DEMO_RUN = "2026-11-21T00:00:00+00:00"
REPORT_DAY = "2026-11-20"
DEMO_DAGS = [
    "kazoo_cdrs",
    "pbx_cdrs",
    "enigma_cdrs",
    "voicenter_cdrs",
    "voicenter_reconcile",
    "cdr_warehouse",
    "cdr_reports",
]

EXAMPLE_QUERY = """\
select a.source, coalesce(a.agent_name, a.agent_id) as agent, count(*) as answered_inbound_legs,
       sum(f.talk_seconds) as talk_seconds
from marts.fct_cdr f join marts.dim_agent a using (agent_key)
where f.direction = 'inbound' and f.status = 'answered'
group by all order by answered_inbound_legs desc, agent"""


def demo_environment(kazoo_url: str, pbx_url: str, redis_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CDR_PULL_SCHEDULE": DEMO_SCHEDULE,
        "AIRFLOW_CONN_KAZOO_DEFAULT": json.dumps(
            {
                "conn_type": "http",
                "host": kazoo_url,
                "password": "demo-kazoo-api-key",
                "extra": {"account_id": "demo-account", "page_size": 50, "default_region": "US"},
            }
        ),
        "AIRFLOW_CONN_PBX_DEFAULT": json.dumps(
            {
                "conn_type": "http",
                "host": pbx_url,
                "password": "demo-pbx-token",
                "extra": {"api_key": "demo-pbx-api-key", "timezone": "Europe/Bucharest"},
            }
        ),
        "AIRFLOW_CONN_ENIGMA_DEFAULT": json.dumps(
            {
                "conn_type": "redis",
                "host": "127.0.0.1",
                "port": redis_port,
                "extra": {
                    "db": 0,
                    "keys": ["enigma:notifications:campaigns", "enigma:notifications:c2d"],
                    "timezone": "Africa/Johannesburg",
                },
            }
        ),
    }


def push_enigma_messages(port: int) -> int:
    """What the dialer would have pushed: the demo messages, oldest first, LPUSHed as the dialer does."""
    import redis

    client = redis.Redis(port=port)
    count = 0
    for line in ENIGMA_MESSAGES.read_bytes().splitlines():
        key, message = line.split(b"\t", 1)
        client.lpush(key, message)
        count += 1
    return count


def _done(log: str, marker: str) -> dict:
    """The summary dict a task logs on its last line with ``marker`` (e.g. "KAZOO: interval ... done: {...}")."""
    lines = [line for line in log.splitlines() if marker in line]
    if not lines:
        raise ValueError(f"no line with {marker!r}")
    text = lines[-1].split(marker, 1)[1]
    return ast.literal_eval(text[: text.rindex("}") + 1])


def _interval(summary: dict) -> str:
    start, end = (datetime.fromisoformat(summary[k]) for k in ("interval_start", "interval_end"))
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def pull_summary(name: str, marker: str):
    def summarize(log: str) -> str:
        s = _done(log, marker)
        return (
            f"{name}: {s['rows_written']} CDRs from {s['pages']} page(s) for {_interval(s)}, "
            f"{s['quarantined']} quarantined"
        )

    return summarize


def enigma_summary(log: str) -> str:
    s = _done(log, "Enigma: drain done: ")
    keys = s["keys"].values()
    return (
        f"Enigma: {sum(k['messages'] for k in keys)} messages drained from {len(keys)} list(s), "
        f"{sum(k['stored'] for k in keys)} stored, {sum(k['quarantined'] for k in keys)} quarantined"
    )


def voicenter_summary(log: str) -> str:
    s = _done(log, "Voicenter: load done: ")
    return f"Voicenter: {s['cdrs']} CDRs loaded from {s['segments']} segment(s), {s['quarantined']} quarantined"


def warehouse_summary(log: str) -> str:
    tables = _done(log, "published " + str(config.warehouse_path()) + ": ")
    tests = re.findall(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+)", log)
    return (
        f"warehouse: {tables.get('marts.fct_cdr', 0)} legs, {tables.get('marts.fct_call', 0)} calls, "
        f"{len(tables)} tables published; dbt build {tests[0] if tests else '?'}"
    )


def report_summary(log: str) -> str:
    written = re.findall(r"report for (\S+) written to (\S+) in", log)
    mailed = "mailed" if "mailed the report" in log else "not mailed"
    return f"report for {written[-1][0]} written to {written[-1][1]}, {mailed}" if written else "no report written"


def run(
    step: str, command: list[str], env: dict[str, str], log_dir: Path, summarize: Callable[[str], str] | None = None
) -> None:
    """Run one command with its full output in a log file, then print one line of what it did."""
    log_file = log_dir / f"{step}.log"
    started = time.monotonic()
    print(f"==> {step}: {' '.join(command[1:])}", flush=True)
    with open(log_file, "w") as log:
        returncode = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode != 0:
        tail = log_file.read_text().splitlines()[-30:]
        sys.exit(f"{step} failed (exit {returncode}); last lines of {log_file}:\n" + "\n".join(tail))
    what = ""
    if summarize is not None:
        try:
            what = summarize(log_file.read_text()) + "; "
        except (ValueError, SyntaxError, KeyError, IndexError) as exc:
            what = f"(no summary in the log: {exc}) "
    print(f"    {what}{time.monotonic() - started:.0f} s (log: {log_file})", flush=True)


def record_real_starts(dag_ids: list[str], logical_date: str) -> None:
    """`airflow dags test` records a run as started at its logical date (Airflow's dag.test() passes
    start_date=logical_date), so a demo run of 2026-11-21 made days later would show a duration of days in
    the UI. Its first task's start is when it really started."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    when = datetime.fromisoformat(logical_date)
    with create_session() as session:
        for dag_run in session.scalars(select(DagRun).where(DagRun.dag_id.in_(dag_ids), DagRun.logical_date == when)):
            first = session.scalar(
                select(func.min(TaskInstance.start_date)).where(
                    TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
                )
            )
            if first is not None:
                dag_run.start_date = first


VOICENTER_NOT_POSTED = ROOT / "include" / "demo" / "voicenter_not_posted.json"


def reconcile_voicenter(env: dict[str, str], log_dir: Path, calllog_url: str, missed: set[str]) -> None:
    """Run voicenter_reconcile for the demo day against the Call Log simulator; say what it recovered."""
    import pyarrow.parquet as pq

    env.update(
        {
            "CDR_RECONCILE_SCHEDULE": DEMO_SCHEDULE,
            "AIRFLOW_CONN_VOICENTER_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": calllog_url,
                    "password": "demo-voicenter-code",
                    "extra": {"requests_per_minute": 30},
                }
            ),
        }
    )
    # The line below says what it recovered, counted from the lake.
    run("voicenter_reconcile", [AIRFLOW, "dags", "test", "voicenter_reconcile", DEMO_RUN], env, log_dir)
    recovered = set()
    for path in (config.lake_dir() / "voicenter").glob("date=*/voicenter__calllog__*.parquet"):
        recovered |= set(pq.read_table(path, columns=["ivruniqueid"]).column("ivruniqueid").to_pylist())
    print(
        f"==> voicenter_reconcile recovered {len(recovered & missed)} of the {len(missed)} CDRs the webhook "
        f"missed from Voicenter's call log"
        + ("" if recovered == missed else f" (and {len(recovered - missed)} it should not have)")
    )


def main() -> None:
    # Everything the demo and its children (Airflow, dbt, the receiver) write under the data directory is at most
    # 0640 in 0750 folders, as in production (cdr.access).
    access.restrict_umask()
    log_dir = access.ensure_dir(config.data_dir() / "logs" / "demo")
    print(f"Demo: data under {config.data_dir()}, Airflow state under {os.environ['AIRFLOW_HOME']}")
    with (
        start("kazoo_sim.py") as kazoo,
        start("pbx_sim.py", "--page-size", "25") as pbx,
        start_redis() as redis,
        start("voicenter_calllog_sim.py") as calllog,
    ):
        print(
            f"==> KAZOO simulator on {kazoo.url}, While1 PBX simulator on {pbx.url}, Redis on {redis.url}, "
            f"Voicenter Call Log simulator on {calllog.url}"
        )
        print(f"==> the Enigma dialer pushes {push_enigma_messages(redis.port)} messages to Redis")
        env = demo_environment(kazoo.url, pbx.url, redis.port)
        run("airflow-db-migrate", [AIRFLOW, "db", "migrate"], env, log_dir)
        run(
            "kazoo_cdrs",
            [AIRFLOW, "dags", "test", "kazoo_cdrs", DEMO_RUN],
            env,
            log_dir,
            pull_summary("KAZOO", "done: "),
        )
        run(
            "pbx_cdrs",
            [AIRFLOW, "dags", "test", "pbx_cdrs", DEMO_RUN],
            env,
            log_dir,
            pull_summary("While1 PBX", "done: "),
        )
        run("enigma_cdrs", [AIRFLOW, "dags", "test", "enigma_cdrs", DEMO_RUN], env, log_dir, enigma_summary)
        with start_receiver(str(config.data_dir()), DEMO_TOKEN) as receiver:
            cdrs = json.loads(VOICENTER_CDRS.read_text())
            missed = set(json.loads(VOICENTER_NOT_POSTED.read_text())["ivruniqueids"])
            delivered = [c for c in cdrs if c["ivruniqueid"] not in missed]
            posts = post_all(receiver.url, DEMO_TOKEN, delivered)
            print(
                f"==> Voicenter posted {posts} requests ({len(delivered)} CDRs, some re-sent) to cdr-receiver on "
                f"{receiver.url} as JSON, XML-RPC and form; every one acknowledged. {len(missed)} CDRs of "
                f"08:00-09:00 UTC were never delivered (the receiver was down; {VOICENTER_NOT_POSTED.name})"
            )
        run("voicenter_cdrs", [AIRFLOW, "dags", "test", "voicenter_cdrs", DEMO_RUN], env, log_dir, voicenter_summary)
        reconcile_voicenter(env, log_dir, calllog.url, missed)
        run("cdr_warehouse", [AIRFLOW, "dags", "test", "cdr_warehouse", DEMO_RUN], env, log_dir, warehouse_summary)
        # The run at 2026-11-21 reports the day before: its data interval is the demo day, 2026-11-20 (UTC).
        run("cdr_reports", [AIRFLOW, "dags", "test", "cdr_reports", DEMO_RUN], env, log_dir, report_summary)
        record_real_starts(DEMO_DAGS, DEMO_RUN)
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        print(f"\nWarehouse: {config.warehouse_path()}")
        print("CDRs (call legs) in marts.fct_cdr by source:")
        for source, legs, calls in con.execute(
            "select source, count(*), count(distinct call_key) from marts.fct_cdr group by all order by all"
        ).fetchall():
            print(f"  {source:10} {legs:6} legs  {calls:6} calls")
        print(f"\nExample query (answered inbound legs per agent):\n{EXAMPLE_QUERY};\n")
        print(con.sql(EXAMPLE_QUERY))
        print("Words no mapping knows (marts.dq_unmapped; the report's data health lists them too):")
        for source, field, value, became, legs in con.execute(
            "select source, field, raw_value, mapped_to, sum(legs)::int from marts.dq_unmapped "
            "where affects in ('status', 'direction') group by all order by all"
        ).fetchall():
            print(f"  {source:10} {field:12} {value!r}: {legs} legs, status taken as {became}")
    print(
        f"Open it yourself: .venv/bin/python -c \"import duckdb; duckdb.connect('{config.warehouse_path()}', "
        "read_only=True).sql('from marts.fct_cdr limit 5').show()\""
    )
    report = config.reports_dir() / REPORT_DAY / "report.html"
    if not report.exists():
        sys.exit(f"cdr_reports ran but {report} is missing")
    print(f"\nDaily report of {REPORT_DAY} (open it in a browser; its CSVs are beside it):\n{report}")


if __name__ == "__main__":
    main()
