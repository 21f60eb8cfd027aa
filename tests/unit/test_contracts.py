"""Every published mart dbt builds from SQL has an enforced dbt contract: each column with its data_type, so a model
that changes a published column's name or type fails its build instead of reaching the analysts."""

from __future__ import annotations

from pathlib import Path

import yaml

MARTS = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "marts"


def test_every_sql_mart_has_an_enforced_contract_with_every_column_typed():
    sql_marts = {path.stem for path in MARTS.glob("*.sql")}
    assert sql_marts
    for name in sql_marts:
        (model,) = yaml.safe_load((MARTS / f"{name}.yml").read_text())["models"]
        assert model["name"] == name
        assert model["config"]["contract"]["enforced"] is True, name
        untyped = [column["name"] for column in model["columns"] if not column.get("data_type")]
        assert not untyped, (name, untyped)
