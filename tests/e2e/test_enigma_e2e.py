"""End to end with the real Airflow CLI and dbt: a Redis the dialer pushed to -> enigma_cdrs -> cdr_warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import redis
from launch import start_redis

from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow

pytestmark = pytest.mark.e2e
MESSAGES = ROOT / "include" / "demo_data" / "enigma_messages.jsonl"
KEYS = ["enigma:notifications:campaigns", "enigma:notifications:c2d"]


def expected_call_refs() -> tuple[set[str], int]:
    refs, poison = set(), 0
    for line in MESSAGES.read_bytes().splitlines():
        _, raw = line.split(b"\t", 1)
        try:
            message = json.loads(raw)
        except ValueError:
            poison += 1
            continue
        if "notifications" in message:
            refs |= {n["call_ref"] for n in message["notifications"]}
        elif message.get("type") == "cdr":
            refs.add(message["payload"]["call_ref"])
    return refs, poison


def test_drained_cdrs_reach_the_warehouse_exactly(tmp_path, airflow_db):
    data = tmp_path / "data"
    with start_redis() as server:
        client = redis.Redis(port=server.port)
        for line in MESSAGES.read_bytes().splitlines():
            key, raw = line.split(b"\t", 1)
            client.lpush(key, raw)
        env = {**os.environ, "CDR_DATA_DIR": str(data), "AIRFLOW_CONN_ENIGMA_DEFAULT": json.dumps({
            "conn_type": "redis", "host": "127.0.0.1", "port": server.port,
            "extra": {"db": 0, "keys": KEYS, "timezone": "Africa/Johannesburg"}})}
        airflow(env, "dags", "test", "enigma_cdrs", "2026-11-21T00:00:00+00:00", log="enigma-drain")
        assert [client.llen(key) for key in KEYS] == [0, 0]
    airflow(env, "dags", "test", "cdr_warehouse", "2026-11-21T00:00:00+00:00", log="enigma-build")
    refs, poison = expected_call_refs()
    with duckdb.connect(str(Path(data) / "warehouse.duckdb"), read_only=True) as con:
        got = [r[0] for r in con.execute("select source_cdr_id from marts.fct_cdr where source = 'enigma'").fetchall()]
        assert sorted(got) == sorted(refs)
        abandoned = con.execute("select count(*) from marts.fct_cdr where status = 'abandoned' "
                                "and agent_key is null").fetchone()[0]
        assert abandoned > 0
    assert len(list((data / "quarantine" / "enigma").rglob("*.bin"))) == poison == 1
