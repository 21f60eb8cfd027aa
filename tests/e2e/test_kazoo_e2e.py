"""End to end with the real Airflow CLI and dbt: KAZOO simulator -> kazoo_cdrs -> cdr_warehouse -> warehouse.duckdb."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from launch import start
from tests.e2e.airflow_cli import airflow
from tests.helpers import kazoo_ids_created_in

pytestmark = pytest.mark.e2e
# With a daily schedule, a run at logical date D covers the day before D (Airflow 3 infers the last full interval).
RUN_NOV_20, RUN_NOV_19 = "2026-11-21T00:00:00+00:00", "2026-11-20T00:00:00+00:00"


@pytest.fixture(scope="module")
def env(tmp_path_factory, airflow_db):
    data = tmp_path_factory.mktemp("e2e") / "data"
    with start("kazoo_sim.py") as kazoo:
        environment = {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "CDR_PULL_SCHEDULE": "@daily",
            "AIRFLOW_CONN_KAZOO_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": kazoo.url,
                    "password": "demo-kazoo-api-key",
                    "extra": {"account_id": "demo-account", "page_size": 40, "default_region": "US"},
                }
            ),
        }
        yield environment


def warehouse(env: dict) -> Path:
    return Path(env["CDR_DATA_DIR"]) / "warehouse.duckdb"


def fact_rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select * exclude (extracted_at) from marts.fct_cdr order by cdr_key").fetchall()


def test_one_day_reaches_the_warehouse_exactly(env, kazoo_rows):
    airflow(env, "dags", "test", "kazoo_cdrs", RUN_NOV_20, log="kazoo-pull-1")
    airflow(env, "dags", "test", "cdr_warehouse", RUN_NOV_20, log="kazoo-build-1")
    expected = kazoo_ids_created_in(kazoo_rows, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    with duckdb.connect(str(warehouse(env)), read_only=True) as con:
        ids = [r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr").fetchall()]
        assert sorted(ids) == sorted(expected)
        # Every contract column is there, and the keys resolve in their dimensions.
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = 'fct_cdr'"
            ).fetchall()
        }
        assert {
            "cdr_key",
            "source",
            "source_cdr_id",
            "call_key",
            "started_at",
            "ended_at",
            "direction",
            "caller_number",
            "callee_number",
            "remote_country_code",
            "status",
            "source_status",
            "ring_seconds",
            "talk_seconds",
            "queue_wait_seconds",
            "agent_key",
            "queue_key",
            "recording_url",
        } <= columns
        assert (
            con.execute(
                "select count(*) from marts.fct_cdr f left join marts.dim_agent a using (agent_key) "
                "where f.agent_key is not null and a.agent_key is null"
            ).fetchone()[0]
            == 0
        )
        assert con.execute("select count(distinct call_key) * 2 = count(*) from marts.fct_cdr").fetchone()[0]
        types = dict(
            con.execute("select column_name, data_type from duckdb_columns() where table_name = 'fct_cdr'").fetchall()
        )
        assert types["started_at"] == "TIMESTAMP WITH TIME ZONE" and types["talk_seconds"] == "INTEGER"


def test_the_same_interval_again_and_another_built_while_an_analyst_holds_the_warehouse_open(env, kazoo_rows):
    """The same interval pulled again changes no row and adds none; the build that takes it in, with the day before,
    leaves an analyst's open session reading the complete earlier build."""
    before = fact_rows(warehouse(env))
    analyst = duckdb.connect(str(warehouse(env)), read_only=True)
    try:
        held = analyst.execute("select count(*) from marts.fct_cdr").fetchone()[0]
        airflow(env, "dags", "test", "kazoo_cdrs", RUN_NOV_20, log="kazoo-pull-2")
        airflow(env, "dags", "test", "kazoo_cdrs", RUN_NOV_19, log="kazoo-pull-3")
        airflow(env, "dags", "test", "cdr_warehouse", RUN_NOV_19, log="kazoo-build-2")
        # The analyst's session still reads the complete earlier build ...
        assert analyst.execute("select count(*) from marts.fct_cdr").fetchone()[0] == held == len(before) > 0
    finally:
        analyst.close()
    # ... and a new session sees the new one: both days, each CDR once, the first day's rows as they were.
    expected = kazoo_ids_created_in(kazoo_rows, datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    after = fact_rows(warehouse(env))
    with duckdb.connect(str(warehouse(env)), read_only=True) as con:
        ids = [r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr").fetchall()]
    assert sorted(ids) == sorted(expected) and len(after) > len(before)
    assert set(map(repr, before)) <= set(map(repr, after))  # (rows hold lists)
    # Nothing half-written beside it: only the published copies' hidden slots (warehouse.duckfile), each its two copies.
    leftovers = [p.name for p in warehouse(env).parent.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".slots") for name in leftovers), leftovers
    for slots in warehouse(env).parent.glob(".*.slots"):
        assert {p.name for p in slots.iterdir()} <= {"a", "b", "state.json"}


def test_a_cli_backfill_plans_one_run_per_day(env):
    airflow(env, "dags", "reserialize", log="kazoo-reserialize")
    output = airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        "kazoo_cdrs",
        "--from-date",
        "2026-11-18",
        "--to-date",
        "2026-11-20",
        "--reprocess-behavior",
        "completed",
        "--dry-run",
        log="kazoo-backfill-dry-run",
    )
    planned = sorted(set(re.findall(r"\| (2026-11-\d\d 00:00:00\+00:00) \|", output)))
    # One run per daily interval, re-running the day the tests above already pulled; each run's logical date
    # is its interval's start.
    assert planned == [f"2026-11-{d} 00:00:00+00:00" for d in (18, 19, 20)]
    # History of any age: the days of the vendor's own 2015 examples can be back-filled too.
    old = airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        "kazoo_cdrs",
        "--from-date",
        "2015-06-25",
        "--to-date",
        "2015-06-26",
        "--dry-run",
        log="kazoo-backfill-2015-dry-run",
    )
    assert sorted(set(re.findall(r"\| (2015-06-\d\d 00:00:00\+00:00) \|", old))) == [
        "2015-06-25 00:00:00+00:00",
        "2015-06-26 00:00:00+00:00",
    ]
