"""dbt's layout, as the project's anchors keep it: one YAML beside each model, named after it, holding its
description, columns, tests and unit tests; sources in `_<source>__sources.yml`; nothing grouped."""

from __future__ import annotations

from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def test_each_model_has_its_own_yaml_beside_it_with_its_unit_tests():
    models = {p.stem: p for p in MODELS.rglob("*") if p.suffix in (".sql", ".py")}
    assert len(models) > 30
    for name, path in models.items():
        described = yaml.safe_load(path.with_suffix(".yml").read_text())
        assert [m["name"] for m in described["models"]] == [name], path
        assert all(test["model"] == name for test in described.get("unit_tests") or []), path
    for path in MODELS.rglob("*.yml"):
        if path.stem in models:
            continue
        kinds = set(yaml.safe_load(path.read_text())) - {"version"}
        assert kinds in ({"sources"}, {"exposures"}), (path, kinds)  # a grouped models or unit-test file


def test_every_model_with_rules_keeps_its_unit_tests():
    """The split lost no unit test: the rule-bearing models are each tested where they are described."""
    tested = {
        test["model"]
        for path in MODELS.rglob("*.yml")
        for test in yaml.safe_load(path.read_text()).get("unit_tests") or []
    }
    for model in ("int_kazoo__legs", "int_pbx__legs", "int_enigma__legs", "int_voicenter__legs", "fct_cdr", "fct_call"):
        assert model in tested, model
