"""Where the pipeline reads and writes: every path comes from the environment (docs/contract.md, Paths)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

# plugins/cdr/config.py -> the project root is two levels above the package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_PULL_SCHEDULE = "@hourly"


def data_dir() -> Path:
    """Root of everything the pipeline writes; read at call time so tests and runs can point it elsewhere."""
    return Path(os.environ.get("CDR_DATA_DIR") or PROJECT_ROOT / "data").resolve()


def lake_url() -> str:
    """Where the raw lake lives (``CDR_LAKE_URL``): ``s3://bucket/prefix`` (cdr.lake.objectstore), or a local path,
    by default ``lake/`` under the data directory."""
    url = (os.environ.get("CDR_LAKE_URL") or "").strip()
    if url.startswith("s3://"):
        return url.rstrip("/")
    return str(lake_dir())


def lake_on_object_store() -> bool:
    return lake_url().startswith("s3://")


def lake_dir() -> Path:
    """The local lake's folder. Code that may run against a lake on object storage goes through cdr.lake.writer
    (``lake_root``), never this."""
    url = (os.environ.get("CDR_LAKE_URL") or "").strip()
    if url.startswith("s3://"):
        raise RuntimeError(f"CDR_LAKE_URL is {url}: the lake is not on local disk")
    return Path(url).resolve() if url else data_dir() / "lake"


def quarantine_dir() -> Path:
    return data_dir() / "quarantine"


def landing_dir() -> Path:
    return data_dir() / "landing"


def reports_dir() -> Path:
    return data_dir() / "reports"


def build_dir() -> Path:
    """dbt's working database and artefacts: never opened by analysts."""
    return data_dir() / "build"


def docs_dir() -> Path:
    """The model's documentation (dbt docs), published beside the warehouse."""
    return data_dir() / "docs"


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def pull_schedule() -> str:
    return os.environ.get("CDR_PULL_SCHEDULE") or DEFAULT_PULL_SCHEDULE


# How far back the pull DAGs may be back-filled (from the UI, the CLI or POST /api/v2/backfills): Airflow makes
# no run for an interval before a DAG's start date. Nothing runs for the past on its own (catchup is off), so an
# early default costs nothing; 2000 is also the earliest time the model takes for a call.
DEFAULT_PULL_START_DATE = "2000-01-01"


def pull_start_date() -> date:
    """``CDR_PULL_START_DATE`` (ISO date): the first day the pull and reconciliation DAGs can be back-filled to."""
    raw = (os.environ.get("CDR_PULL_START_DATE") or "").strip() or DEFAULT_PULL_START_DATE
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"CDR_PULL_START_DATE={raw!r} is not a date (YYYY-MM-DD)") from None


DEFAULT_RECONCILE_SCHEDULE = "@hourly"


def reconcile_schedule() -> str:
    return os.environ.get("CDR_RECONCILE_SCHEDULE") or DEFAULT_RECONCILE_SCHEDULE


# Builds between lake updates test only the rows they read; once a night every row is tested again, so a rule
# that changed meaning, or a row corrupted in place, is still caught within a day. UTC, after the day's last pull.
DEFAULT_FULL_TESTS_SCHEDULE = "30 3 * * *"


def full_tests_schedule() -> str:
    return os.environ.get("CDR_FULL_TESTS_SCHEDULE") or DEFAULT_FULL_TESTS_SCHEDULE
