from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import duckdb
import pytest
import redis
from post_voicenter import post_all

from cdr.sources.enigma.drain import drain
from cdr.sources.kazoo.client import KazooClient
from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
from cdr.sources.pbx.client import PbxClient
from cdr.sources.pbx.extract import pull_interval as pull_pbx
from cdr.sources.voicenter.load import load_staged
from cdr.warehouse.build import build_and_publish
from launch import start, start_receiver, start_redis
from tests.conftest import ROOT
from tests.e2e.airflow_cli import airflow
from tests.e2e.test_enigma_e2e import KEYS, MESSAGES

DAY = (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
VOICENTER = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The suite's Airflow metadata database (SQLite in the suite's AIRFLOW_HOME), migrated once."""
    airflow(dict(os.environ), "db", "migrate", log="db-migrate")


@pytest.fixture(scope="session")
def warehouse(demo_data):
    """The demo warehouse as analysts read it (read-only)."""
    con = duckdb.connect(str(demo_data / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    """A data directory with all four demo sources pulled, drained, posted and loaded into one published
    warehouse. Shared by the session: a test that changes anything works on a copy (shutil.copytree)."""
    data = tmp_path_factory.mktemp("demo") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDR_DATA_DIR", str(data))
        patch.setenv("CDR_WAREHOUSE_DOCS", "true")  # the demo publishes them (test_demo_warehouse.py)
        with start("kazoo_sim.py") as kazoo, start("pbx_sim.py") as pbx:
            pull_kazoo(KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account"), *DAY, default_region="US")
            pull_pbx(PbxClient(pbx.url, "demo-pbx-token", "demo-pbx-api-key"), *DAY)
        with start_redis() as server:
            client = redis.Redis(port=server.port)
            for line in MESSAGES.read_bytes().splitlines():
                key, raw = line.split(b"\t", 1)
                client.lpush(key, raw)
            drain(client, KEYS)
        with start_receiver(str(data), "demo-token-for-the-e2e-warehouse-0123") as receiver:
            post_all(receiver.url, "demo-token-for-the-e2e-warehouse-0123", VOICENTER)
        load_staged()
        build_and_publish()
    return data
