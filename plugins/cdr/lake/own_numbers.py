"""The call centre's own numbers (its DIDs), per source: a party calling from or to one of them is on our side.

The model decides a leg's business direction from its parties (dbt macro ``party_direction``): an extension, a
switch service or one of these numbers is ours. Each pull replaces its source's file whole with the list as it
stands now: what the source's API lists (KAZOO ``phone_numbers``) and what the Connection's extra ``own_numbers``
adds. One file per source (``lake/own_numbers/own_numbers__<source>.parquet``), written to a temporary name,
fsynced and renamed (on object storage: committed by a manifest, cdr.lake.objectstore), so a reader sees the old list
or the new one; concurrent pulls of one source write the same list, and the last commit wins.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from cdr.lake.writer import ensure_schema_file, lake_schema, replace_file

log = logging.getLogger(__name__)

FOLDER = "own_numbers"
SCHEMA = lake_schema(
    [
        pa.field("owner_source", pa.string()),  # the source whose legs these numbers belong to
        pa.field("number", pa.string()),  # as the API or the Connection gives it
        pa.field("origin", pa.string()),  # `api` or `connection`
        pa.field("state", pa.string()),
        pa.field("used_by", pa.string()),
    ]
)


def configured(extra: dict[str, Any]) -> list[str]:
    """A Connection's ``own_numbers``: a JSON list, or numbers separated by commas, semicolons or spaces."""
    value = extra.get("own_numbers") or []
    if isinstance(value, str):
        value = value.replace(",", " ").replace(";", " ").split()
    if not isinstance(value, list):
        raise ValueError(f"extra.own_numbers must be a list of numbers, not {type(value).__name__}")
    return [str(item).strip() for item in value if str(item).strip()]


def write_own_numbers(source: str, numbers: Iterable[dict[str, Any]]) -> Path | str:
    """Replace ``source``'s list. Each item: ``number``, ``origin``, and optionally ``state``, ``used_by``, ``raw``."""
    now = datetime.now(UTC)
    rows = []
    for item in numbers:
        raw = item.get("raw", {"number": item["number"]})
        rows.append(
            {
                "owner_source": source,
                "number": str(item["number"]),
                "origin": item["origin"],
                "state": item.get("state"),
                "used_by": item.get("used_by"),
                "_source": source,
                "_interval_start": None,
                "_interval_end": None,
                "_extracted_at": now,
                "_batch": FOLDER,
                "_raw": json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str),
            }
        )
    ensure_schema_file(FOLDER, SCHEMA)
    final = replace_file(FOLDER, f"{FOLDER}__{source}", pa.Table.from_pylist(rows, schema=SCHEMA))
    by_origin = {origin: sum(r["origin"] == origin for r in rows) for origin in sorted({r["origin"] for r in rows})}
    log.info("%s: own numbers: %d (%s) in %s", source, len(rows), by_origin or "none", final)
    return final
