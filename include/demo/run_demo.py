"""`make demo`: run the whole pipeline once on the built-in demo sources and show what reached the warehouse.

Starts the KAZOO and While1 PBX simulators and a throwaway Redis (as the Enigma dialer's) on free loopback
ports, has the dialer's demo messages pushed, points the Connections at them (through
the environment, as production would), runs `airflow dags test` for each pull DAG, then cdr_warehouse and
cdr_reports (the daily report of the demo day), queries the published warehouse.duckdb and ends with the
report's path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(ROOT / "include" / "demo"))

import duckdb  # noqa: E402
from launch import start, start_receiver, start_redis  # noqa: E402
from post_voicenter import post_all  # noqa: E402

from cdr import config  # noqa: E402

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ENIGMA_MESSAGES = ROOT / "include" / "demo_data" / "enigma_messages.jsonl"
VOICENTER_CDRS = ROOT / "include" / "demo_data" / "voicenter_cdrs.json"
DEMO_TOKEN = "demo-voicenter-token-not-for-production"
# The demo data covers 2026-11-19..21 (UTC); with a daily schedule the run at 2026-11-21 pulls 2026-11-20.
DEMO_SCHEDULE = "@daily"
DEMO_RUN = "2026-11-21T00:00:00+00:00"
REPORT_DAY = "2026-11-20"

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
        "AIRFLOW_CONN_KAZOO_DEFAULT": json.dumps({
            "conn_type": "http", "host": kazoo_url, "password": "demo-kazoo-api-key",
            "extra": {"account_id": "demo-account", "page_size": 50, "default_region": "US"},
        }),
        "AIRFLOW_CONN_PBX_DEFAULT": json.dumps({
            "conn_type": "http", "host": pbx_url, "password": "demo-pbx-token",
            "extra": {"api_key": "demo-pbx-api-key", "timezone": "Europe/Bucharest"},
        }),
        "AIRFLOW_CONN_ENIGMA_DEFAULT": json.dumps({
            "conn_type": "redis", "host": "127.0.0.1", "port": redis_port,
            "extra": {"db": 0, "keys": ["enigma:notifications:campaigns", "enigma:notifications:c2d"],
                      "timezone": "Africa/Johannesburg"},
        }),
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


def run(step: str, command: list[str], env: dict[str, str], log_dir: Path, show: tuple[str, ...] = ()) -> None:
    """Run one command with its full output in a log file, echoing the lines a person wants to follow."""
    log_file = log_dir / f"{step}.log"
    started = time.monotonic()
    print(f"==> {step}: {' '.join(command[1:])}  (log: {log_file})", flush=True)
    with open(log_file, "w") as log:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if any(marker in line for marker in show):
                print("    " + line.split("] ", 1)[-1].split(" [", 1)[0].strip()[:160], flush=True)
    if proc.wait() != 0:
        tail = log_file.read_text().splitlines()[-30:]
        sys.exit(f"{step} failed (exit {proc.returncode}); last lines of {log_file}:\n" + "\n".join(tail))
    print(f"    done in {time.monotonic() - started:.0f}s", flush=True)


VOICENTER_NOT_POSTED = ROOT / "include" / "demo" / "voicenter_not_posted.json"
RECONCILE_MARKERS = ("Voicenter call log:",)


def reconcile_voicenter(env: dict[str, str], log_dir: Path, calllog_url: str, missed: set[str]) -> None:
    """Run voicenter_reconcile for the demo day against the Call Log simulator; say what it recovered."""
    import pyarrow.parquet as pq

    env.update({
        "CDR_RECONCILE_SCHEDULE": DEMO_SCHEDULE,
        "AIRFLOW_CONN_VOICENTER_DEFAULT": json.dumps({
            "conn_type": "http", "host": calllog_url, "password": "demo-voicenter-code",
            "extra": {"requests_per_minute": 30},
        }),
    })
    run("voicenter_reconcile", [AIRFLOW, "dags", "test", "voicenter_reconcile", DEMO_RUN], env, log_dir,
        RECONCILE_MARKERS)
    recovered = set()
    for path in (config.lake_dir() / "voicenter").glob("date=*/voicenter__calllog__*.parquet"):
        recovered |= set(pq.read_table(path, columns=["ivruniqueid"]).column("ivruniqueid").to_pylist())
    print(f"==> voicenter_reconcile recovered {len(recovered & missed)} of the {len(missed)} CDRs the webhook "
          f"missed from Voicenter's call log" + ("" if recovered == missed else
                                                 f" (and {len(recovered - missed)} it should not have)"))


def main() -> None:
    log_dir = config.data_dir() / "logs" / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"Demo: data under {config.data_dir()}, Airflow state under {os.environ['AIRFLOW_HOME']}")
    with start("kazoo_sim.py") as kazoo, start("pbx_sim.py", "--page-size", "25") as pbx, start_redis() as redis, \
            start("voicenter_calllog_sim.py") as calllog:
        print(f"==> KAZOO simulator on {kazoo.url}, While1 PBX simulator on {pbx.url}, Redis on {redis.url}, "
              f"Voicenter Call Log simulator on {calllog.url}")
        print(f"==> the Enigma dialer pushes {push_enigma_messages(redis.port)} messages to Redis")
        env = demo_environment(kazoo.url, pbx.url, redis.port)
        run("airflow-db-migrate", [AIRFLOW, "db", "migrate"], env, log_dir)
        run("kazoo_cdrs", [AIRFLOW, "dags", "test", "kazoo_cdrs", DEMO_RUN], env, log_dir, ("KAZOO:",))
        run("pbx_cdrs", [AIRFLOW, "dags", "test", "pbx_cdrs", DEMO_RUN], env, log_dir, ("PBX:",))
        run("enigma_cdrs", [AIRFLOW, "dags", "test", "enigma_cdrs", DEMO_RUN], env, log_dir, ("Enigma:",))
        with start_receiver(str(config.data_dir()), DEMO_TOKEN) as receiver:
            cdrs = json.loads(VOICENTER_CDRS.read_text())
            missed = set(json.loads(VOICENTER_NOT_POSTED.read_text())["ivruniqueids"])
            delivered = [c for c in cdrs if c["ivruniqueid"] not in missed]
            posts = post_all(receiver.url, DEMO_TOKEN, delivered)
            print(f"==> Voicenter posted {posts} requests ({len(delivered)} CDRs, some re-sent) to cdr-receiver on "
                  f"{receiver.url} as JSON, XML-RPC and form; every one acknowledged. {len(missed)} CDRs of "
                  f"08:00-09:00 UTC were never delivered (the receiver was down; {VOICENTER_NOT_POSTED.name})")
        run("voicenter_cdrs", [AIRFLOW, "dags", "test", "voicenter_cdrs", DEMO_RUN], env, log_dir, ("Voicenter:",))
        reconcile_voicenter(env, log_dir, calllog.url, missed)
        run("cdr_warehouse", [AIRFLOW, "dags", "test", "cdr_warehouse", DEMO_RUN], env, log_dir,
            ("published", "Done. PASS", "dbt: Completed"))
        # The run at 2026-11-21 reports the day before: its data interval is the demo day, 2026-11-20 (UTC).
        run("cdr_reports", [AIRFLOW, "dags", "test", "cdr_reports", DEMO_RUN], env, log_dir,
            ("report for", "not mailed", "mailed the report"))
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
    print(f"Open it yourself: .venv/bin/python -c \"import duckdb; duckdb.connect('{config.warehouse_path()}', "
          "read_only=True).sql('from marts.fct_cdr limit 5').show()\"")
    report = config.reports_dir() / REPORT_DAY / "report.html"
    if not report.exists():
        sys.exit(f"cdr_reports ran but {report} is missing")
    print(f"\nDaily report of {REPORT_DAY} (open it in a browser; its CSVs are beside it):\n{report}")


if __name__ == "__main__":
    main()
