"""`make up` (include/demo/run_up.py) under a real scheduler: docs/operations.md's back-fills, REST and CLI, run
to success.

One `make up` is started as a new user would (Airflow standalone: scheduler, dag-processor, api-server,
triggerer), on a PostgreSQL database of its own that this test creates and drops (SQLite takes one writer at a
time and cannot run back-fills beside other runs), with a daily pull schedule. Then, exactly as docs/operations.md
says: a JWT from /auth/token, a back-fill of kazoo_cdrs through POST /api/v2/backfills and one of pbx_cdrs with
`airflow backfill create`; both must run to success with nobody unpausing anything, cdr_warehouse must build a
bounded number of times, and the warehouse must then hold every CDR of every back-filled interval, counted here
from the simulators' own data.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psycopg2
import pytest
import requests
from up_process import UpProcess

import run_up
from launch import free_port
from tests.conftest import ARTIFACTS, KAZOO_DATA, PBX_DATA
from tests.e2e.airflow_api import AirflowApi, wait_for
from tests.e2e.airflow_cli import airflow
from tests.helpers import kazoo_ids_created_in, pbx_ids_read_by

pytestmark = [pytest.mark.e2e, pytest.mark.long]
# Three daily intervals, 2026-11-19, -20 and -21 (a back-fill's dates are its runs' logical dates, each its
# interval's start): the demo days.
FROM, TO = "2026-11-19", "2026-11-21"
INTERVALS = (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))
LAKE_AND_WAREHOUSE = ["kazoo_cdrs", "pbx_cdrs", "enigma_cdrs", "voicenter_cdrs", "cdr_warehouse"]


# --- the metadata database ---------------------------------------------------------------------------------------


def _admin():
    con = psycopg2.connect(
        host=run_up.PG_HOST, port=run_up.PG_PORT, user=run_up.PG_USER, dbname="postgres", connect_timeout=5
    )
    con.autocommit = True
    return con


def _drop(database: str) -> None:
    con = _admin()
    try:
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
    finally:
        con.close()


def _exists(database: str) -> bool:
    con = _admin()
    try:
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [database])
            return cur.fetchone() is not None
    finally:
        con.close()


@pytest.fixture
def scratch_database():
    name = f"cdr_test_{uuid.uuid4().hex[:12]}"
    yield name
    _drop(name)


def test_make_up_uses_the_local_postgresql_and_creates_its_database(tmp_path, scratch_database, monkeypatch):
    monkeypatch.delenv(run_up.DB_ENV, raising=False)
    assert not _exists(scratch_database)
    url, line = run_up.metadata_database(tmp_path, database=scratch_database)
    assert url == f"postgresql+psycopg2://postgres@127.0.0.1:5432/{scratch_database}"
    assert _exists(scratch_database) and line.startswith("Airflow metadata: PostgreSQL")
    # A second start finds it and keeps it.
    assert run_up.metadata_database(tmp_path, database=scratch_database)[0] == url


def test_without_postgresql_it_is_sqlite_with_one_warning_line(tmp_path, monkeypatch):
    monkeypatch.delenv(run_up.DB_ENV, raising=False)
    url, line = run_up.metadata_database(tmp_path, port=free_port())
    assert url == f"sqlite:///{tmp_path / 'airflow.db'}"
    assert line.startswith("WARNING: Airflow metadata in SQLite") and "database is locked" in line
    assert "\n" not in line


def test_an_exported_database_url_wins_and_is_printed_without_its_password(tmp_path, monkeypatch):
    monkeypatch.setenv(run_up.DB_ENV, "postgresql+psycopg2://airflow:s3cret@db.example/airflow")
    url, line = run_up.metadata_database(tmp_path)
    assert url == "postgresql+psycopg2://airflow:s3cret@db.example/airflow"
    assert "s3cret" not in line and "airflow:***@db.example" in line


def test_the_choice_goes_into_airflow_cfg_for_the_cli(tmp_path):
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[core]\nexecutor = LocalExecutor\n\n[database]\n# a comment\n"
        "sql_alchemy_conn = sqlite:////old/airflow.db\n# sql_alchemy_conn_async =\n"
    )
    run_up.write_database_to_cfg(tmp_path, "postgresql+psycopg2://postgres@127.0.0.1:5432/cdr_airflow")
    text = cfg.read_text()
    assert "sql_alchemy_conn = postgresql+psycopg2://postgres@127.0.0.1:5432/cdr_airflow\n" in text
    assert "sqlite" not in text and "# sql_alchemy_conn_async =" in text and "executor = LocalExecutor" in text
    fresh = tmp_path / "fresh"
    run_up.write_database_to_cfg(fresh, "sqlite:////x/airflow.db")
    assert (fresh / "airflow.cfg").read_text().strip() == "[database]\nsql_alchemy_conn = sqlite:////x/airflow.db"


# --- make up under a scheduler -----------------------------------------------------------------------------------


class Up(UpProcess, AirflowApi):
    """A running `make up` (run_up.py), its output kept line by line (and in the test artefacts), and its API."""

    def __init__(self, env: dict[str, str], log: Path):
        super().__init__(env, log)
        self.url = f"http://localhost:{env['AIRFLOW__API__PORT']}"
        self.token = ""

    def wait_for_line(self, start: str, timeout: float) -> str:
        return self.wait_for("^" + re.escape(start) + ".*", timeout).group(0)


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    database = f"cdr_test_{uuid.uuid4().hex[:12]}"
    url = run_up.ensure_postgres_database(database=database)
    root = tmp_path_factory.mktemp("make-up")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "airflow"),
        "CDR_DATA_DIR": str(root / "data"),
        "AIRFLOW__API__PORT": str(free_port()),
        "CDR_RECEIVER_PORT": str(free_port()),
        # The log servers' fixed defaults (8793, 8794) clash with any other Airflow on the machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "CDR_PULL_SCHEDULE": "@daily",
        run_up.DB_ENV: url,
    }
    env.pop(run_up.PAUSED_ENV, None)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    instance = Up(env, ARTIFACTS / "e2e-make-up.log")
    try:
        yield instance
    finally:
        instance.stop()
        _drop(database)


def test_a_new_user_back_fills_through_rest_and_cli_with_make_up(up):
    assert "postgresql+psycopg2://" in up.wait_for_line("Airflow metadata: ", 60)
    assert up.wait_for_line("The project's DAGs run unpaused", 5)
    up.wait_for_line("Airflow UI: ", 300)
    up.wait_for_line("make up: unpaused", 240)
    password = json.loads((Path(up.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated").read_text())[
        "admin"
    ]
    # As docs/operations.md: a JWT from the simple auth manager.
    response = requests.post(f"{up.url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
    assert response.status_code in (200, 201), response.text
    up.token = response.json()["access_token"]
    assert {d: up.api("GET", f"/dags/{d}")["is_paused"] for d in run_up.DEMO_DAGS} == dict.fromkeys(
        run_up.DEMO_DAGS, False
    )

    # Unpausing started the 5-minute loaders (they drain the demo Enigma list and Voicenter segments), the latest
    # daily interval of each pull and the builds those trigger. Once each loader has run, it is paused (as
    # docs/operations.md says) so that only the back-fills below write the lake, and what was started runs out.
    # (cdr_reports is left alone: it writes no lake, and its sensor waits in minutes.)
    for dag_id in ("enigma_cdrs", "voicenter_cdrs"):
        wait_for(lambda dag_id=dag_id: up.runs(dag_id, state=["success"]), 300, f"a first {dag_id} run")
        up.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    up.wait_idle(LAKE_AND_WAREHOUSE, 420, "the runs unpausing started")
    built_before = builds(up)
    assert built_before >= 1  # the demo drains were built

    # REST, as in docs/operations.md.
    rest = up.api(
        "POST",
        "/backfills",
        json={
            "dag_id": "kazoo_cdrs",
            "from_date": f"{FROM}T00:00:00Z",
            "to_date": f"{TO}T00:00:00Z",
            "reprocess_behavior": "completed",
        },
    )
    # History of any age through the same endpoint: the days of the vendor's 2015 examples plan one run each.
    planned = up.api(
        "POST",
        "/backfills/dry_run",
        json={"dag_id": "kazoo_cdrs", "from_date": "2015-06-25T00:00:00Z", "to_date": "2015-06-26T00:00:00Z"},
    )
    assert sorted(r["logical_date"][:10] for r in planned["backfills"]) == ["2015-06-25", "2015-06-26"]
    # CLI, as in docs/operations.md, in "another shell": the same environment make up was started with.
    airflow(
        up.env,
        "backfill",
        "create",
        "--dag-id",
        "pbx_cdrs",
        "--from-date",
        FROM,
        "--to-date",
        TO,
        "--reprocess-behavior",
        "completed",
        log="make-up-cli-backfill",
    )
    cli = [b for b in up.api("GET", "/backfills", params={"dag_id": "pbx_cdrs"})["backfills"]]
    assert len(cli) == 1

    for backfill in (rest, cli[0]):
        wait_for_backfill(up, backfill["id"], 420)
    for dag_id in ("kazoo_cdrs", "pbx_cdrs"):
        runs = up.runs(dag_id, run_type=["backfill"])
        assert sorted(r["logical_date"][:10] for r in runs) == ["2026-11-19", "2026-11-20", "2026-11-21"]
        assert {r["state"] for r in runs} == {"success"}, runs
    # The builds settle once the pulls have: bounded however many pull runs ended, all successful. The scheduler
    # queues the asset-triggered run a loop after the last pull's events, so wait for a build first, then for quiet.
    wait_for(lambda: builds(up, settled=False) > built_before, 600, "cdr_warehouse build after the back-fills")
    up.wait_idle(["cdr_warehouse"], 420, "cdr_warehouse after the back-fills")
    warehouse_runs = up.runs("cdr_warehouse")
    assert {r["state"] for r in warehouse_runs} == {"success"}, warehouse_runs
    new_builds = builds(up) - built_before
    assert 1 <= new_builds <= 2, f"{new_builds} builds for 6 pull runs"

    # The last build holds every CDR of every back-filled interval.
    expected_kazoo = kazoo_ids_created_in(json.loads(KAZOO_DATA.read_text()), *INTERVALS)
    expected_pbx = pbx_ids_read_by(json.loads(PBX_DATA.read_text()), *INTERVALS)
    assert expected_kazoo and expected_pbx
    warehouse = Path(up.env["CDR_DATA_DIR"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids = {
            s: {r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr where source = ?", [s]).fetchall()}
            for s in ("kazoo", "pbx")
        }
        published = con.execute("select published_at from main.build_info").fetchone()[0]
    assert ids["kazoo"] == expected_kazoo
    assert ids["pbx"] == expected_pbx
    last_pull_end = max(
        datetime.fromisoformat(r["end_date"].replace("Z", "+00:00"))
        for d in ("kazoo_cdrs", "pbx_cdrs")
        for r in up.runs(d, run_type=["backfill"])
    )
    assert published > last_pull_end


def builds(up: Up, settled: bool = True) -> int:
    """cdr_warehouse runs that built (the others were skipped: a build had already taken in their updates).
    ``settled``: no build may be waiting or running any more (else some may still be)."""
    tis = up.api(
        "GET", "/dags/cdr_warehouse/dagRuns/~/taskInstances", params={"task_id": "build_and_publish", "limit": 100}
    )["task_instances"]
    if settled:
        assert {t["state"] for t in tis} <= {"success", "skipped"}, tis
    return sum(t["state"] == "success" for t in tis)


def wait_for_backfill(up: Up, backfill_id: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backfill = up.api("GET", f"/backfills/{backfill_id}")
        assert not backfill["is_paused"], backfill
        if backfill["completed_at"]:
            return
        time.sleep(3)
    raise AssertionError(f"back-fill {backfill_id} not completed after {timeout:.0f}s: {backfill}")
