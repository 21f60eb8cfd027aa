"""dbt's unit tests, which no warehouse cycle runs (cdr.warehouse.build.UNIT_TESTS): each rule of the models on the
rows written in its YAML, run here once against the demo build, every one of them passing."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from cdr import config
from cdr.warehouse.dbt_runner import run_dbt

pytestmark = pytest.mark.e2e


def test_every_unit_test_of_the_project_runs_and_passes(demo_data, tmp_path, monkeypatch):
    written = {
        test["name"]
        for path in (config.DBT_PROJECT_DIR / "models").rglob("*.yml")
        for test in yaml.safe_load(path.read_text()).get("unit_tests") or []
    }
    assert len(written) >= 20, written  # the project has them, so an empty selection could not pass here

    # The models' relations exist (dbt reads their column types); a copy, as the session's build is shared.
    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    run_dbt("test", "--select", "test_type:unit")

    results = json.loads((config.build_dir() / "target" / "run_results.json").read_text())["results"]
    outcomes = {r["unique_id"].rsplit(".", 1)[-1]: r["status"] for r in results}
    assert outcomes == dict.fromkeys(written, "pass")
