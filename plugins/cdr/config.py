"""Where the pipeline reads and writes, and when its DAGs run: derived from the settings (cdr.settings), which are
read at call time so tests and runs can point them elsewhere (docs/contract.md, Paths)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from cdr.settings import settings

# plugins/cdr/config.py -> the project root is two levels above the package.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def data_dir() -> Path:
    """Root of everything the pipeline writes; read at call time so tests and runs can point it elsewhere."""
    return Path(settings().data_dir or PROJECT_ROOT / "data").resolve()


def lake_url() -> str:
    """Where the raw lake lives (``CDR_LAKE_URL``): ``s3://bucket/prefix`` (cdr.lake.objectstore), or a local path,
    by default ``lake/`` under the data directory."""
    url = settings().lake_url.strip()
    if url.startswith("s3://"):
        return url.rstrip("/")
    return str(lake_dir())


def lake_on_object_store() -> bool:
    return lake_url().startswith("s3://")


def lake_dir() -> Path:
    """The local lake's folder. Code that may run against a lake on object storage goes through cdr.lake.writer
    (``lake_root``), never this."""
    url = settings().lake_url.strip()
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
    return settings().pull_schedule


def pull_start_date() -> date:
    """``CDR_PULL_START_DATE``: the first day the pull and reconciliation DAGs can be back-filled to. Airflow makes
    no run for an interval before a DAG's start date; nothing runs for the past on its own (catchup is off), so the
    early default (2000, also the earliest time the model takes for a call) costs nothing."""
    return settings().pull_start_date


def reconcile_schedule() -> str:
    return settings().reconcile_schedule


def full_tests_schedule() -> str:
    """Builds between lake updates test only the rows they read; once a night every row is tested again, so a rule
    that changed meaning, or a row corrupted in place, is still caught within a day (UTC, after the last pull)."""
    return settings().full_tests_schedule
