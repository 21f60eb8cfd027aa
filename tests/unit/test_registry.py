"""The registry is the one list of sources: the dbt seed, the Assets and the report all agree with it."""

from __future__ import annotations

import csv
from zoneinfo import ZoneInfo

import phonenumbers
import pyarrow as pa

from cdr import registry
from cdr.assets import LAKE_ASSETS
from cdr.config import DBT_PROJECT_DIR
from cdr.reporting.charts import SOURCE_COLOURS
from cdr.reporting.figures import SOURCE_LABELS
from cdr.reporting.render import SHORT_SOURCES
from cdr.sources import LAKE_SCHEMAS


def test_the_dbt_seed_is_the_registry():
    with open(DBT_PROJECT_DIR / "seeds" / "cdr_sources.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == registry.SEED_COLUMNS
    assert [tuple(r) for r in rows[1:]] == registry.seed_rows(), (
        "regenerate dbt_project/seeds/cdr_sources.csv from cdr.registry.seed_rows()")


def test_everything_per_source_derives_from_the_registry():
    names = ["kazoo", "pbx", "enigma", "voicenter"]
    assert registry.names() == names
    assert [a.uri for a in LAKE_ASSETS] == [f"cdr://lake/{n}" for n in names]
    assert list(LAKE_SCHEMAS) == names and all(isinstance(s, pa.Schema) for s in LAKE_SCHEMAS.values())
    assert set(names) <= set(SOURCE_COLOURS) and set(names) <= set(SHORT_SOURCES) and set(names) <= set(SOURCE_LABELS)


def test_defaults_are_real_regions_and_zones():
    for entry in registry.SOURCES.values():
        assert entry.default_region in phonenumbers.SUPPORTED_REGIONS, entry
        ZoneInfo(entry.default_timezone)
