"""End to end: Voicenter posts to cdr-receiver -> voicenter_cdrs (real Airflow CLI) -> cdr_warehouse (dbt)."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from launch import start_receiver
from post_voicenter import post_all

from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow

pytestmark = pytest.mark.e2e
CDRS = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())


def test_posted_cdrs_reach_the_warehouse_once_each(tmp_path, airflow_db):
    data = tmp_path / "data"
    with start_receiver(str(data), "e2e-token-0123456789abcdefghijklmnop") as receiver:
        posts = post_all(receiver.url, "e2e-token-0123456789abcdefghijklmnop", CDRS)
    assert posts > len(CDRS)  # some were re-sent
    env = {**os.environ, "CDR_DATA_DIR": str(data)}
    airflow(env, "dags", "test", "voicenter_cdrs", "2026-11-21T00:00:00+00:00", log="voicenter-load")
    airflow(env, "dags", "test", "cdr_warehouse", "2026-11-21T00:00:00+00:00", log="voicenter-build")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select source_cdr_id, call_key, status, direction, queue_key, price_currency "
                           "from marts.fct_cdr where source = 'voicenter'").fetchall()
        assert sorted(r[0] for r in rows) == sorted(c["ivruniqueid"] for c in CDRS)
        by_id = {r[0]: r for r in rows}
        for c in CDRS:
            _, call_key, status, direction, queue_key, _ = by_id[c["ivruniqueid"]]
            assert call_key == c.get("OriginalIvrUniqueID", c["ivruniqueid"])
            if c["status"] == "ABANDONE":
                assert status == "abandoned" and direction == "inbound" and queue_key is not None
            if c["type"] == "Extension Outgoing":
                assert direction == "outbound"
        # Two-leg calls group under one key.
        assert con.execute("select max(n) from (select count(*) n from marts.fct_cdr group by call_key)").fetchone()[0] == 2
