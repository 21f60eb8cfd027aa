from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include" / "simulators"))
sys.path.insert(0, str(ROOT / "include" / "demo"))
KAZOO_DATA = ROOT / "include" / "demo_data" / "kazoo_cdrs.json"
ARTIFACTS = ROOT / "build" / "test-artifacts"

# Before anything imports Airflow: the suite's own Airflow home, never the developer's .airflow/.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="cdr-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
)
os.environ.pop("CDR_PULL_SCHEDULE", None)
# No build generates dbt's docs (2-3 s of each full build) but where a test looks at them: it sets this on.
os.environ["CDR_WAREHOUSE_DOCS"] = "false"
# The demo and every expected answer are on the default clock (UTC); a test that wants another zone sets its own.
for _name in [n for n in os.environ if n == "CDR_SITE_TIMEZONE" or n.startswith("CDR_SITE_TIMEZONE_")]:
    os.environ.pop(_name)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A private CDR_DATA_DIR for one test."""
    path = tmp_path / "data"
    monkeypatch.setenv("CDR_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def kazoo_rows() -> list[dict]:
    return json.loads(KAZOO_DATA.read_text())


PBX_DATA = ROOT / "include" / "demo_data" / "pbx_cdrs.json"


@pytest.fixture(scope="session")
def pbx_rows() -> list[dict]:
    return json.loads(PBX_DATA.read_text())


def pytest_collection_modifyitems(config, items):
    """Tests marked `long` first: in a parallel run (make test), a worker that started one last would end alone."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
