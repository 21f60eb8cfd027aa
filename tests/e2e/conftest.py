from __future__ import annotations

import os

import pytest

from tests.e2e.airflow_cli import airflow


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The suite's Airflow metadata database (SQLite in the suite's AIRFLOW_HOME), migrated once."""
    airflow(dict(os.environ), "db", "migrate", log="db-migrate")
