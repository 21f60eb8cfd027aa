"""End to end: an hour the webhook missed -> voicenter_reconcile (real Airflow CLI, Call Log simulator) -> lake
-> cdr_warehouse: every Voicenter CDR of the day in marts.fct_cdr, once."""

from __future__ import annotations

import json
import os
import re

import duckdb
import pyarrow.parquet as pq
import pytest
from post_voicenter import post_all

from launch import start, start_receiver
from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow
from tests.helpers import voicenter_instant

pytestmark = pytest.mark.e2e
CDRS = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())
NOT_POSTED = set(json.loads((ROOT / "include" / "demo" / "voicenter_not_posted.json").read_text())["ivruniqueids"])
RUN = "2026-11-21T00:00:00+00:00"  # with @daily: reconciles 2026-11-20
UNIT = "lake/voicenter/date=2026-11-20/voicenter__calllog__20261120T000000Z_20261121T000000Z.parquet"


def test_the_cdrs_the_webhook_missed_reach_the_warehouse_once(tmp_path, airflow_db):
    data = tmp_path / "data"
    assert NOT_POSTED and {c["ivruniqueid"] for c in CDRS} > NOT_POSTED
    with start_receiver(str(data), "e2e-token-0123456789abcdefghijklmnop") as receiver:
        post_all(
            receiver.url,
            "e2e-token-0123456789abcdefghijklmnop",
            [c for c in CDRS if c["ivruniqueid"] not in NOT_POSTED],
        )
    with start("voicenter_calllog_sim.py") as calllog:
        env = {
            **os.environ,
            "CDR_DATA_DIR": str(data),
            "CDR_RECONCILE_SCHEDULE": "@daily",
            "AIRFLOW_CONN_VOICENTER_DEFAULT": json.dumps(
                {
                    "conn_type": "http",
                    "host": calllog.url,
                    "password": "demo-voicenter-code",
                    "extra": {"requests_per_minute": 30},
                }
            ),
        }
        airflow(env, "dags", "test", "voicenter_cdrs", RUN, log="reconcile-load")
        output = airflow(env, "dags", "test", "voicenter_reconcile", RUN, log="reconcile-1")
        assert f"{len(NOT_POSTED)} recovered from the log" in output
        first = pq.read_table(data / UNIT)
        airflow(env, "dags", "test", "voicenter_reconcile", RUN, log="reconcile-2")
    again = pq.read_table(data / UNIT)
    assert sorted(first.column("ivruniqueid").to_pylist()) == sorted(NOT_POSTED)
    assert again.drop_columns(["_extracted_at"]).equals(first.drop_columns(["_extracted_at"]))
    assert set(first.column("_origin").to_pylist()) == {"call_log"}

    airflow(env, "dags", "test", "cdr_warehouse", RUN, log="reconcile-build")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select source_cdr_id, call_key, started_at from marts.fct_cdr where source = 'voicenter'"
        ).fetchall()
        offsets = con.execute(
            "select date_key::varchar, cdrs_compared, measured_offset, applied_offset, cdrs_contradicting "
            "from marts.agg_voicenter_time_offset"
        ).fetchall()
        clock_warnings = con.execute("select count(*) from marts.dq_unmapped where affects = 'started_at'").fetchone()
    assert sorted(r[0] for r in rows) == sorted(c["ivruniqueid"] for c in CDRS)
    by_id = {c["ivruniqueid"]: c for c in CDRS}
    for cdr_id, call_key, started_at in rows:
        # Recovered legs join their calls and start when their webhook copies would have: at the true instant of
        # Israel's wall-clock `time`.
        assert call_key == by_id[cdr_id].get("OriginalIvrUniqueID", cdr_id)
        assert started_at == voicenter_instant(by_id[cdr_id])
    # The Call Log's true UTC against the webhook's `time`: Israel's winter offset, as the setting applies it.
    delivered = len(CDRS) - len(NOT_POSTED)
    assert offsets == [("2026-11-20", delivered, "+02:00", "+02:00", 0)]
    assert clock_warnings == (0,)


def test_reconciliation_back_fills_one_run_per_interval(airflow_db):
    env = {**os.environ, "CDR_RECONCILE_SCHEDULE": "@daily"}
    airflow(env, "dags", "reserialize", log="reconcile-reserialize")
    output = airflow(
        env,
        "backfill",
        "create",
        "--dag-id",
        "voicenter_reconcile",
        "--from-date",
        "2026-11-18",
        "--to-date",
        "2026-11-20",
        "--reprocess-behavior",
        "completed",
        "--dry-run",
        log="reconcile-backfill-dry-run",
    )
    planned = sorted(set(re.findall(r"\| (2026-11-\d\d 00:00:00\+00:00) \|", output)))
    assert planned == [f"2026-11-{d} 00:00:00+00:00" for d in (18, 19, 20)]
