"""The grown-up shape of docs/scale-out.md, whole, on loopback, against the single-machine default.

Started here as separate processes, as on separate machines: an api-server, a scheduler and a dag-processor, and
two Celery workers (`airflow celery worker`), with the metadata and the Celery results in PostgreSQL (a database
of this run, dropped after), a redis-server as the broker, the lake on an S3 server (moto_server: CDR_LAKE_URL,
credentials from the `aws_default` Connection) and the warehouse as a DuckLake (catalog in another PostgreSQL
database of this run, data on the S3 server). Each worker has a data directory of its own, as a machine has its
own disk: worker "host-a" serves the warehouse queue (dbt's build database lives there) and the queue of the
Voicenter receiver that runs beside it; "host-b" serves the default queue only.

While three days of `kazoo_cdrs` and `pbx_cdrs` are back-filled through the REST API (POST /api/v2/backfills),
the receiver takes posts and `enigma_cdrs` drains messages pushed meanwhile. Then: tasks ran on both workers,
each queue's tasks only where they belong; `cdr_warehouse` ran because the lake Assets were updated; and the
DuckLake holds, leg for leg, what the single-machine default (local lake, warehouse.duckdb) builds from the same
sources through the same code.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psycopg2
import pytest
import redis
import requests
from post_voicenter import post_all

import run_up
from launch import free_port, start, start_receiver, start_redis
from run_demo import DEMO_TOKEN, ENIGMA_MESSAGES, VOICENTER_CDRS, demo_environment
from tests.conftest import ARTIFACTS, ROOT
from tests.e2e.airflow_api import AirflowApi, wait_for
from tests.e2e.airflow_cli import AIRFLOW, airflow
from tests.s3server import KEY, REGION, SECRET, moto_server

pytestmark = [pytest.mark.e2e, pytest.mark.scaleout, pytest.mark.ducklake]

DAYS = [datetime(2026, 11, 19, tzinfo=UTC) + timedelta(days=n) for n in range(3)]
PULLS = ("kazoo_cdrs", "pbx_cdrs")
LOADERS = ("enigma_cdrs", "voicenter_cdrs")
WAREHOUSE_QUEUE, RECEIVER_QUEUE = "warehouse", "receiver-a"
WORKERS = {"host-a": ["default", WAREHOUSE_QUEUE, RECEIVER_QUEUE], "host-b": ["default"]}
# What differs between two builds of the same sources: when each copy was read.
NOT_COMPARED = {"extracted_at"}
# A leg with no time of its own (an Enigma click-to-dial notification) is dated when it was drained
# (int_enigma__legs: started_at_estimated), so its times are when each copy was read too. They are compared
# as that: equal to the leg's extracted_at (estimated_legs_dated_when_read).
WHEN_FOR_ESTIMATED = {
    "started_at",
    "ended_at",
    "date_key",
    "started_hour_utc",
    "started_at_local",
    "local_date",
    "local_hour",
}


def _ducklake_or_skip() -> None:
    from cdr.warehouse import ducklake

    try:
        ducklake.load_extensions(duckdb.connect(), s3=True)
    except ducklake.DuckLakeError as error:
        pytest.skip(str(error))


def _celery_executor_or_fail() -> None:
    """Fail at once, saying why, where the installed Celery breaks the provider's executor (every worker and the
    scheduler would exit on start): Celery 5.7 dropped ``celery.backends.database.retry``, which
    apache-airflow-providers-celery 3.26 imports."""
    try:
        import airflow.providers.celery.executors.celery_executor_utils  # noqa: F401
    except ImportError as error:
        pytest.fail(f"the CeleryExecutor cannot load in this install: {error}")


def _admin():
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
    con.autocommit = True
    return con


def _drop(*databases: str) -> None:
    con = _admin()
    with con.cursor() as cur:
        for name in databases:
            cur.execute(f'drop database if exists "{name}" with (force)')
    con.close()


class Stack(AirflowApi):
    """The processes of the grown-up shape, their environments and the REST API."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env, self.procs = root, env, {}
        self.url = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
        self.token = ""

    def spawn(self, name: str, args: list[str], **extra: str) -> None:
        log = open(ARTIFACTS / f"e2e-scale-out-{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [AIRFLOW, *args], env={**self.env, **extra}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = (proc, log)

    def alive(self) -> None:
        dead = {name: proc.returncode for name, (proc, _) in self.procs.items() if proc.poll() is not None}
        assert not dead, f"stopped: {dead} (see build/test-artifacts/e2e-scale-out-*.log)"

    def stop(self) -> None:
        # Workers first (a warm shutdown lets their tasks end), then the rest.
        order = sorted(self.procs, key=lambda name: not name.startswith("worker"))
        for name in order:
            proc, _ = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name in order:
            proc, log = self.procs[name]
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def halves(items: list) -> tuple[list, list]:
    """What is sent before the back-fill and what during it. post_all picks each CDR's body format (and which
    are re-sent) by its place in the list it is given, and a format changes how a CDR is kept (its IVR as the
    JSON text it came in): the single-machine build posts the same two halves, so each CDR reaches both builds
    the same way."""
    middle = len(items) // 2
    return items[:middle], items[middle:]


def push(port: int, lines: list[bytes]) -> None:
    client = redis.Redis(port=port)
    for line in lines:
        key, message = line.split(b"\t", 1)
        client.lpush(key, message)


def legs(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Every row of ``table``, each column as text (JSON and lists too), in one order."""
    columns = [r[0] for r in con.execute(f"describe {table}").fetchall() if r[0] not in NOT_COMPARED]

    def text(column: str) -> str:
        value = f'cast("{column}" as varchar)'
        if column in WHEN_FOR_ESTIMATED:
            value = f"case when started_at_estimated then 'when read' else {value} end"
        return f'{value} as "{column}"'

    select = ", ".join(text(c) for c in columns)
    return [tuple(columns), *con.execute(f"select {select} from {table} order by all").fetchall()]


def differences(columns: tuple, only_shared: set[tuple], only_single: set[tuple]) -> dict:
    """What differs, by the first column (the table's key): the columns that differ in a row both builds hold,
    and the keys only one build holds."""
    shared, single = ({row[0]: row for row in rows} for rows in (only_shared, only_single))
    found: dict = {"only in the DuckLake": sorted(shared.keys() - single.keys())[:5]}
    found["only in the single build"] = sorted(single.keys() - shared.keys())[:5]
    for key in sorted(shared.keys() & single.keys())[:5]:
        found[key] = {c: (a, b) for c, a, b in zip(columns, shared[key], single[key], strict=True) if a != b}
    return found


def estimated_legs_dated_when_read(con: duckdb.DuckDBPyConnection) -> int:
    """The estimated legs of fct_cdr, each checked to be dated exactly when it was read (what ``legs`` leaves
    out of their comparison)."""
    estimated, otherwise = con.execute(
        "select count(*), count(*) filter (where started_at is distinct from extracted_at) "
        "from marts.fct_cdr where started_at_estimated"
    ).fetchone()
    assert not otherwise, f"{otherwise} of {estimated} estimated legs are not dated when they were read"
    return estimated


def single_machine_build(data: Path, kazoo_url: str, pbx_url: str) -> dict[str, list[tuple]]:
    """The default shape, in this process: a local lake and warehouse.duckdb, the same sources pulled, drained,
    posted and loaded through the calls the DAGs' tasks make, then cdr_warehouse's build."""
    from cdr import config
    from cdr.registry import region_for
    from cdr.sources.enigma.drain import drain
    from cdr.sources.enigma.hook import EnigmaHook
    from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
    from cdr.sources.kazoo.hook import KazooHook
    from cdr.sources.pbx.extract import pull_interval as pull_pbx
    from cdr.sources.pbx.hook import PbxHook
    from cdr.sources.voicenter.account import configured_settings
    from cdr.sources.voicenter.load import load_staged
    from cdr.warehouse.build import build_and_publish

    with pytest.MonkeyPatch.context() as patch, start_redis() as enigma:
        for name in ("CDR_LAKE_URL", "CDR_WAREHOUSE_CATALOG", "CDR_WAREHOUSE_DATA_PATH"):
            patch.delenv(name, raising=False)
        patch.setenv("CDR_DATA_DIR", str(data))
        for name, value in demo_environment(kazoo_url, pbx_url, enigma.port).items():
            if name.startswith("AIRFLOW_CONN_"):
                patch.setenv(name, value)
        for day in DAYS:
            kazoo = KazooHook()
            pull_kazoo(
                kazoo.get_conn(),
                day,
                day + timedelta(days=1),
                default_region=region_for("kazoo", kazoo.extra),
                own_numbers=kazoo.own_numbers,
            )
            pbx = PbxHook()
            pull_pbx(
                pbx.get_conn(),
                day,
                day + timedelta(days=1),
                lookback_hours=pbx.lookback_hours,
                own_numbers=pbx.own_numbers,
                default_region=region_for("pbx", pbx.extra),
            )
        push(enigma.port, ENIGMA_MESSAGES.read_bytes().splitlines())
        hook = EnigmaHook()
        drain(
            hook.get_conn(),
            hook.keys,
            timezone_name=hook.timezone,
            default_region=region_for("enigma", hook.extra),
        )
        with start_receiver(str(data), DEMO_TOKEN) as receiver:
            for part in halves(json.loads(VOICENTER_CDRS.read_text())):
                post_all(receiver.url, DEMO_TOKEN, part)
        load_staged(settings=configured_settings())
        build_and_publish()
        with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
            estimated_legs_dated_when_read(con)
            return {table: legs(con, table) for table in ("marts.fct_cdr", "marts.fct_call")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    _ducklake_or_skip()
    _celery_executor_or_fail()
    root = tmp_path_factory.mktemp("scale-out")
    run_id = uuid.uuid4().hex[:10]
    metadata_db, catalog_db = f"cdr_test_{run_id}", f"cdr_test_lake_{run_id}"
    with ExitStack() as stack_:
        metadata_url = run_up.ensure_postgres_database(database=metadata_db)
        run_up.ensure_postgres_database(database=catalog_db)
        stack_.callback(_drop, metadata_db, catalog_db)
        s3 = stack_.enter_context(moto_server())
        s3.client().create_bucket(Bucket="cdr")
        broker = stack_.enter_context(start_redis())
        enigma = stack_.enter_context(start_redis())
        kazoo = stack_.enter_context(start("kazoo_sim.py"))
        pbx = stack_.enter_context(start("pbx_sim.py"))
        host_a = root / "host-a"
        # The receiver runs on host-a: it stages on host-a's disk, where host-a's worker loads from.
        receiver = stack_.enter_context(start_receiver(str(host_a), DEMO_TOKEN))

        port = free_port()
        home = root / "airflow"
        home.mkdir()
        password = secrets.token_urlsafe(12)
        (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({"admin": password}))
        env = {
            **demo_environment(kazoo.url, pbx.url, enigma.port),
            "AIRFLOW_HOME": str(home),
            "CDR_DATA_DIR": str(root / "central"),
            "CDR_PULL_SCHEDULE": "@daily",
            "PYTHONPATH": str(ROOT),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_host.hostname",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{metadata_db}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            # What every component of one deployment shares (docker-compose.celery.yaml takes them from .env).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # The lake on the S3 server, its credentials in the Connection the lake reads (CDR_LAKE_CONN_ID).
            "CDR_LAKE_URL": "s3://cdr/lake",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": KEY,
                    "password": SECRET,
                    "extra": {"endpoint_url": s3.endpoint, "region_name": REGION},
                }
            ),
            # The DuckLake: catalog in PostgreSQL, data on the S3 server (credentials from the environment).
            "CDR_WAREHOUSE_CATALOG": f"postgres:host=127.0.0.1 port=5432 user=postgres dbname={catalog_db}",
            "CDR_WAREHOUSE_DATA_PATH": "s3://cdr/warehouse/",
            **s3.env(),
            "AWS_REGION": REGION,
            "CDR_WAREHOUSE_QUEUE": WAREHOUSE_QUEUE,
            "CDR_VOICENTER_RECEIVER_QUEUES": RECEIVER_QUEUE,
        }
        for name in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
            env.pop(name, None)
        airflow(env, "db", "migrate", log="scale-out-db-migrate")
        stack = Stack(root, env)
        stack_.callback(stack.stop)
        stack.spawn("api-server", ["api-server"], CDR_TEST_HOSTNAME="central")
        stack.spawn("scheduler", ["scheduler"], CDR_TEST_HOSTNAME="central")
        stack.spawn("dag-processor", ["dag-processor"], CDR_TEST_HOSTNAME="central")
        for host, queues in WORKERS.items():
            stack.spawn(
                f"worker-{host}",
                ["celery", "worker", "--queues", ",".join(queues), "--concurrency", "2", "--celery-hostname", host],
                CDR_TEST_HOSTNAME=host,
                CDR_DATA_DIR=str(root / host),
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            )

        def token():
            try:
                response = requests.post(
                    f"{stack.url}/auth/token", json={"username": "admin", "password": password}, timeout=5
                )
            except requests.RequestException:
                return None
            return response.json()["access_token"] if response.status_code in (200, 201) else None

        stack.token = wait_for(token, 300, "API server", stack.alive)
        stack.kazoo, stack.pbx, stack.receiver, stack.enigma, stack.s3 = kazoo, pbx, receiver, enigma, s3
        yield stack


def test_workers_object_storage_and_ducklake_build_what_one_machine_builds(stack, tmp_path):
    first_messages, later_messages = halves(ENIGMA_MESSAGES.read_bytes().splitlines())
    first_cdrs, later_cdrs = halves(json.loads(VOICENTER_CDRS.read_text()))
    push(stack.enigma.port, first_messages)
    post_all(stack.receiver.url, DEMO_TOKEN, first_cdrs)

    dags = [*PULLS, *LOADERS, "cdr_warehouse"]
    wait_for(
        lambda: all(
            requests.get(
                f"{stack.url}/api/v2/dags/{d}", timeout=10, headers={"Authorization": f"Bearer {stack.token}"}
            ).status_code
            == 200
            for d in dags
        ),
        240,
        "parsed DAGs",
        stack.alive,
    )
    # The warehouse first. Unpaused, its nightly timetable starts a run at once (a CronTriggerTimetable without
    # catchup runs its latest trigger time), which builds the empty lake: so what the DuckLake holds at the end
    # was built by asset-triggered runs, incrementally over that first build.
    stack.api("PATCH", "/dags/cdr_warehouse", json={"is_paused": False})
    wait_for(lambda: stack.runs("cdr_warehouse", state=["success"]), 300, "the first (nightly) build", stack.alive)
    for dag_id in [*PULLS, *LOADERS]:
        stack.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    backfills = [
        stack.api(
            "POST",
            "/backfills",
            json={
                "dag_id": dag_id,
                "from_date": DAYS[0].isoformat(),
                "to_date": DAYS[-1].isoformat(),
                "reprocess_behavior": "completed",
            },
        )
        for dag_id in PULLS
    ]
    # Meanwhile the dialer pushes and Voicenter posts the rest; the loaders run again for them.
    push(stack.enigma.port, later_messages)
    post_all(stack.receiver.url, DEMO_TOKEN, later_cdrs)
    wait_for(lambda: all(stack.runs(d, state=["success"]) for d in LOADERS), 300, "a first loader run", stack.alive)
    for dag_id in LOADERS:
        stack.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})

    for backfill in backfills:
        wait_for(
            lambda b=backfill: stack.api("GET", f"/backfills/{b['id']}")["completed_at"], 600, "back-fill", stack.alive
        )
    for dag_id in PULLS:
        runs = stack.runs(dag_id, run_type=["backfill"])
        assert sorted(r["logical_date"][:10] for r in runs) == [d.date().isoformat() for d in DAYS]
        assert {r["state"] for r in runs} == {"success"}, runs
    stack.wait_idle(dags, 900, "the back-fills, loaders and builds")
    for dag_id in dags:
        assert {r["state"] for r in stack.runs(dag_id)} == {"success"}, (dag_id, stack.runs(dag_id))

    # Tasks ran on both workers, and each queue's only on the workers that serve it.
    where: dict[tuple[str, str], set[str]] = {}
    instances = [ti for dag_id in dags for ti in stack.task_instances(dag_id)]
    # Kept for reading what each worker ran and for how long (docs/scale-out.md's figures).
    fields = ("dag_id", "task_id", "dag_run_id", "try_number", "state", "hostname", "queue", "duration")
    (ARTIFACTS / "e2e-scale-out-task-instances.json").write_text(
        json.dumps([{f: ti.get(f) for f in fields} for ti in instances], indent=1)
    )
    for ti in instances:
        if ti["state"] == "success":
            where.setdefault((ti["dag_id"], ti["task_id"]), set()).add(ti["hostname"])
    assert set().union(*where.values()) == set(WORKERS), where
    assert where[("cdr_warehouse", "build_and_publish")] == {"host-a"}
    assert where[("voicenter_cdrs", "load_receiver_a")] == {"host-a"}
    pulled_on = where[("kazoo_cdrs", "pull")] | where[("pbx_cdrs", "pull")]
    assert pulled_on <= set(WORKERS)

    # cdr_warehouse built because the lake Assets were updated (a run whose events a build since took in skips).
    run_types = {r["dag_run_id"]: r["run_type"] for r in stack.runs("cdr_warehouse")}
    built_by = [
        run_types[ti["dag_run_id"]]
        for ti in instances
        if (ti["dag_id"], ti["task_id"], ti["state"]) == ("cdr_warehouse", "build_and_publish", "success")
    ]
    assert "asset_triggered" in built_by, (built_by, run_types)

    # Nothing of the lake on any worker's disk: the pulls wrote the S3 server.
    lake_keys = stack.s3.keys("cdr", "lake/")
    assert {k.split("/")[1] for k in lake_keys if k.endswith(".parquet")} >= {"kazoo", "pbx", "enigma", "voicenter"}
    for host in WORKERS:
        assert not list((stack.root / host).glob("lake/*/**/*.parquet")), host
    assert stack.s3.keys("cdr", "warehouse/")

    # The DuckLake, read as an analyst on another machine reads it, equals the single-machine build.
    from cdr.warehouse import ducklake

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env.items():
            if name.startswith(("CDR_WAREHOUSE_", "AWS_")):
                patch.setenv(name, value)
        con = ducklake.connect()
        estimated_legs_dated_when_read(con)
        shared = {table: legs(con, table) for table in ("marts.fct_cdr", "marts.fct_call")}
        (busiest,) = con.execute(
            "select local_date from marts.fct_cdr group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()
        con.close()
        # The daily report, read from the DuckLake in its own DuckDB (this environment's; every figure's SQL
        # must bind there too, not only in the single machine's DuckDB).
        from cdr.reporting.build import build_report

        report = build_report(busiest, reports_root=tmp_path / "reports")
        assert report.html.exists() and report.headline, report.summary()
        assert sum(report.files.values()) > 0, report.files
    stack.stop()  # the single-machine build below gets the machine to itself
    single = single_machine_build(tmp_path / "single", stack.kazoo.url, stack.pbx.url)
    assert len(single["marts.fct_cdr"]) > 100
    for table in shared:
        assert shared[table][0] == single[table][0], table  # the same columns
        only_shared = set(shared[table]) - set(single[table])
        only_single = set(single[table]) - set(shared[table])
        assert not only_shared and not only_single, (table, differences(shared[table][0], only_shared, only_single))
        assert len(shared[table]) == len(single[table]), table
