"""The sources: one entry each, and everything else that differs by source is derived from it.

Adding a source is one `Source` here, its package under `cdr/sources/<name>/` and its dbt staging folder (see
docs/adding-a-source.md). This module imports nothing heavy (no pyarrow, no duckdb, no Airflow), so hooks, DAG
files and the report can all read it; the lake schema is named by a dotted path and loaded only when asked for.

The dbt side reads the same facts from the seed `cdr_sources` (dbt_project/seeds/cdr_sources.csv) and the list of
names from the var `cdr_sources` (dbt_project.yml), which drives the union of the sources' legs (macro
union_source_legs): `python -m cdr.registry` writes both, and tests/unit/test_registry.py keeps them equal to this
registry.

A source's Connection may override its phone region and time zone (extra `default_region`, `timezone`):
`region_for` and `timezone_for` read them, with the registry's values as defaults.
"""

from __future__ import annotations

import csv
import importlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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
    # How a call's legs add up in marts.fct_call: KAZOO reports both halves of a bridged call (A and B legs),
    # which overlap, so the longest counts; other sources' legs follow one another (transfers, second legs).
    legs_overlap: bool = False
    # What marts.dim_queue calls the source's queues: the Enigma dialer's campaigns play the part of queues.
    queue_type: str = "queue"
    # The DAGs whose runs write its lake folder (cdr_warehouse waits for them to settle: warehouse.settle); by default
    # its one DAG, `<name>_cdrs`.
    lake_dags: tuple[str, ...] = ()

    @property
    def writer_dags(self) -> tuple[str, ...]:
        return self.lake_dags or (f"{self.name}_cdrs",)

    @property
    def asset_name(self) -> str:
        return f"cdr_lake_{self.name}"

    @property
    def asset_uri(self) -> str:
        return f"cdr://lake/{self.name}"

    def lake_schema(self) -> Any:
        return _load(self.schema_ref)


def _load(ref: str) -> Any:
    """The object a "module:ATTRIBUTE" names: the registry stays light, and below the packages it names."""
    module, attribute = ref.split(":")
    return getattr(importlib.import_module(module), attribute)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "kazoo",
            "KAZOO",
            "KAZOO",
            "#4c72b0",
            "cdr.sources.kazoo.records:SCHEMA",
            "kazoo_default",
            "US",
            "UTC",
            legs_overlap=True,
        ),
        Source(
            "pbx",
            "While1 PBX",
            "PBX",
            "#dd8452",
            "cdr.sources.pbx.records:SCHEMA",
            "pbx_default",
            "RO",
            "Europe/Bucharest",
        ),
        Source(
            "enigma",
            "Enigma",
            "Enigma",
            "#55a868",
            "cdr.sources.enigma.records:SCHEMA",
            "enigma_default",
            "ZA",
            "Africa/Johannesburg",
            queue_type="campaign",
        ),
        Source(
            "voicenter",
            "Voicenter",
            "Voicenter",
            "#8172b3",
            "cdr.sources.voicenter.records:SCHEMA",
            "voicenter_default",
            "IL",
            "Asia/Jerusalem",
            # the Call Log's reconciliation writes what the webhook missed into the same folder
            lake_dags=("voicenter_cdrs", "voicenter_reconcile"),
        ),
    )
}


def source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; the sources are {', '.join(SOURCES)}") from None


def names() -> list[str]:
    return list(SOURCES)


def lake_schemas() -> dict[str, Any]:
    """Each source's lake Parquet schema (imports pyarrow and the sources' records modules). Not cached: the
    modules are imported once anyway, and the answer follows the registry as it is now."""
    return {s.name: s.lake_schema() for s in SOURCES.values()}


# What the warehouse build reads from the lake besides the sources' CDRs: the DIDs the pulls list as theirs, and
# the Call Log's times of the CDRs the Voicenter webhook delivered. Folder to "module:ATTRIBUTE" of its schema.
LAKE_EXTRAS: dict[str, str] = {
    "own_numbers": "cdr.lake.own_numbers:SCHEMA",
    "voicenter_time_witness": "cdr.sources.voicenter.records:WITNESS_SCHEMA",
}


def lake_tables() -> dict[str, Any]:
    """Every lake folder the warehouse build reads, to its Parquet schema: the sources' and `LAKE_EXTRAS`."""
    return {**lake_schemas(), **{folder: _load(ref) for folder, ref in LAKE_EXTRAS.items()}}


def _override(name: str, extra: Mapping[str, Any] | None, key: str) -> str | None:
    value = (extra or {}).get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{source(name).conn_id}: extra.{key} must be a string, not {value!r}")
    return value.strip()


def region_for(name: str, extra: Mapping[str, Any] | None = None) -> str:
    """The ISO 3166 region of the source's numbers written without a country code: the Connection's extra
    ``default_region`` (any case), else the registry's."""
    value = _override(name, extra, "default_region")
    if value is None:
        return source(name).default_region
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ValueError(
            f"{source(name).conn_id}: extra.default_region {value!r} is not an ISO 3166 region (two letters)"
        )
    return value.upper()


def timezone_for(name: str, extra: Mapping[str, Any] | None = None) -> str:
    """The IANA time zone of the source's wall-clock times: the Connection's extra ``timezone``, else the
    registry's."""
    value = _override(name, extra, "timezone")
    if value is None:
        return source(name).default_timezone
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{source(name).conn_id}: extra.timezone {value!r} is not an IANA time zone") from None
    return value


SEED_COLUMNS = ("source", "label", "short_label", "default_region", "default_timezone", "legs_overlap", "queue_type")


def seed_rows() -> list[tuple[str, ...]]:
    """The rows of dbt's `cdr_sources` seed, as the CSV holds them."""
    return [
        (
            s.name,
            s.label,
            s.short_label,
            s.default_region,
            s.default_timezone,
            str(s.legs_overlap).lower(),
            s.queue_type,
        )
        for s in SOURCES.values()
    ]


# The line of dbt_project.yml that names the sources for dbt's parser (a seed's rows are not known while parsing).
_DBT_VAR = re.compile(r"^(?P<indent>\s*)cdr_sources: \[.*\]$", re.M)


def dbt_var_line() -> str:
    return f"cdr_sources: [{', '.join(names())}]"


def dbt_var_names(project_yml: str) -> list[str]:
    match = _DBT_VAR.search(project_yml)
    if match is None:
        raise ValueError("dbt_project.yml has no `cdr_sources: [...]` var")
    inner = match.group(0).split("[", 1)[1].rsplit("]", 1)[0]
    return [part.strip() for part in inner.split(",") if part.strip()]


def write_dbt_files(project_dir: Path) -> None:
    """Write the seed `cdr_sources` and the var `cdr_sources` of the dbt project from this registry."""
    with open(project_dir / "seeds" / "cdr_sources.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(SEED_COLUMNS)
        writer.writerows(seed_rows())
    yml = project_dir / "dbt_project.yml"
    text = yml.read_text()
    dbt_var_names(text)  # refuses a project without the var
    yml.write_text(_DBT_VAR.sub(lambda m: m.group("indent") + dbt_var_line(), text, count=1))


if __name__ == "__main__":
    # python -m cdr.registry [dbt project dir]: after changing SOURCES
    write_dbt_files(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "dbt_project")
