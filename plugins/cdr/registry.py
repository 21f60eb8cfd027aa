"""The sources: one entry each, and everything else that differs by source is derived from it.

Adding a source is one `Source` here, its package under `cdr/<name>/` and its dbt staging folder (see
docs/adding-a-source.md). This module imports nothing heavy (no pyarrow, no duckdb, no Airflow), so hooks, DAG
files and the report can all read it; the lake schema is named by a dotted path and loaded only when asked for.

The dbt side reads the same facts from the seed `cdr_sources` (dbt_project/seeds/cdr_sources.csv), which
`seed_rows()` writes and a unit test keeps equal to this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Source:
    name: str  # the `source` column's value, the lake folder, the staging folder
    label: str  # what the report calls it
    short_label: str  # a column header on a phone: short, never hyphenated
    colour: str  # its colour in every chart
    schema_ref: str  # "module:ATTRIBUTE" of its lake Parquet schema (a pyarrow.Schema)
    conn_id: str  # its Airflow Connection
    default_region: str  # ISO 3166 region for numbers written without a country code
    default_timezone: str  # IANA zone its wall-clock times are in, and its site's local day

    @property
    def asset_name(self) -> str:
        return f"cdr_lake_{self.name}"

    @property
    def asset_uri(self) -> str:
        return f"cdr://lake/{self.name}"

    def lake_schema(self) -> Any:
        module, attribute = self.schema_ref.split(":")
        return getattr(importlib.import_module(module), attribute)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("kazoo", "KAZOO", "KAZOO", "#4c72b0", "cdr.kazoo.records:SCHEMA", "kazoo_default", "US", "UTC"),
        Source("pbx", "While1 PBX", "PBX", "#dd8452", "cdr.pbx.records:SCHEMA", "pbx_default", "RO",
               "Europe/Bucharest"),
        Source("enigma", "Enigma", "Enigma", "#55a868", "cdr.enigma.records:SCHEMA", "enigma_default", "ZA",
               "Africa/Johannesburg"),
        Source("voicenter", "Voicenter", "Voicenter", "#8172b3", "cdr.voicenter.records:SCHEMA",
               "voicenter_default", "IL", "Asia/Jerusalem"),
    )
}


def source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; the sources are {', '.join(SOURCES)}") from None


def names() -> list[str]:
    return list(SOURCES)


@cache
def lake_schemas() -> dict[str, Any]:
    """Each source's lake Parquet schema (imports pyarrow and the sources' records modules)."""
    return {s.name: s.lake_schema() for s in SOURCES.values()}


SEED_COLUMNS = ("source", "label", "short_label", "default_region", "default_timezone")


def seed_rows() -> list[tuple[str, ...]]:
    """The rows of dbt's `cdr_sources` seed."""
    return [(s.name, s.label, s.short_label, s.default_region, s.default_timezone) for s in SOURCES.values()]
