"""End to end with the real Airflow CLI and dbt: PBX simulator -> pbx_cdrs -> cdr_warehouse -> warehouse.duckdb."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from launch import start
from tests.e2e.airflow_cli import airflow
from tests.helpers import pbx_ids_read_by

pytestmark = pytest.mark.e2e
RUN_NOV_20 = "2026-11-21T00:00:00+00:00"  # daily schedule: the run at D covers the day before D


@pytest.fixture(scope="module")
def env(tmp_path_factory, airflow_db):
    data = tmp_path_factory.mktemp("e2e-pbx") / "data"
    with start("pbx_sim.py", "--page-size", "20") as pbx:
        yield {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "CDR_PULL_SCHEDULE": "@daily",
            "AIRFLOW_CONN_PBX_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": pbx.url,
                    "password": "demo-pbx-token",
                    "extra": {"api_key": "demo-pbx-api-key", "timezone": "Europe/Bucharest"},
                }
            ),
        }


def facts(env) -> list[tuple]:
    with duckdb.connect(str(Path(env["CDR_DATA_DIR"]) / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select * exclude (extracted_at) from marts.fct_cdr order by cdr_key").fetchall()


def test_one_day_of_pbx_cdrs_reaches_the_warehouse_exactly(env, pbx_rows):
    airflow(env, "dags", "test", "pbx_cdrs", RUN_NOV_20, log="pbx-pull-1")
    airflow(env, "dags", "test", "cdr_warehouse", RUN_NOV_20, log="pbx-build-1")
    expected = pbx_ids_read_by(pbx_rows, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    by_id = {r["id"]: r for r in pbx_rows}
    with duckdb.connect(str(Path(env["CDR_DATA_DIR"]) / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select source_cdr_id, source, source_status, started_at, call_key, status, direction from marts.fct_cdr"
        ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(expected)
        for cdr_id, source, source_status, started_at, call_key, status, direction in rows:
            raw = by_id[cdr_id]
            assert source == "pbx" and source_status == raw["call_status"] and call_key == raw["linkedid"]
            assert started_at.timestamp() == float(raw["uniqueid"].split(".")[0])
            assert direction == {"IN": "inbound", "OUT": "outbound"}[raw["direction"].upper()]
            if raw["call_status"].upper() == "NO ANSWER" and raw["qname"]:
                assert status == "abandoned"
        # Transfers: both legs of a call share its key.
        assert (
            con.execute("select max(n) from (select count(*) n from marts.fct_cdr group by call_key)").fetchone()[0]
            == 2
        )
        assert (
            con.execute(
                "select count(*) from marts.fct_cdr f left join marts.dim_queue q using (queue_key) "
                "where f.queue_key is not null and q.queue_key is null"
            ).fetchone()[0]
            == 0
        )
        # fct_call: one row per call; a transferred call's legs follow one another, so their talk adds up.
        calls, keys = con.execute(
            "select (select count(*) from marts.fct_call), (select count(distinct call_key) from marts.fct_cdr)"
        ).fetchone()
        assert calls == keys < len(rows)
        legs, talk, leg_talk = con.execute(
            "select c.legs, c.talk_seconds, "
            "(select sum(talk_seconds) from marts.fct_cdr f where f.call_key = c.call_key) "
            "from marts.fct_call c where c.legs = 2 limit 1"
        ).fetchone()
        assert legs == 2 and talk == leg_talk > 0


def test_re_running_the_interval_changes_nothing(env):
    before = facts(env)
    airflow(env, "dags", "test", "pbx_cdrs", RUN_NOV_20, log="pbx-pull-2")
    airflow(env, "dags", "test", "cdr_warehouse", RUN_NOV_20, log="pbx-build-2")
    assert facts(env) == before and before
