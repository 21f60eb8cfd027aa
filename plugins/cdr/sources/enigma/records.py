"""Enigma notifications as lake rows: each Redis message kept whole, exactly as pushed.

Messages are ``{"type": "cdr", "payload": {...}}`` (campaigns and cdr keys) or, on the deprecated c2d key,
``{"notifications": [{...}, ...]}``. The drain only checks that a message is a JSON object (what is not goes to
quarantine) and stores it with its key; the warehouse's staging model reads the fields, flattens c2d
notifications one row per notification and reads ``dialed_at``. Parsing in DuckDB at build time, in parallel,
keeps the drain at the speed of Redis itself.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdr.lake.writer import lake_schema

SCHEMA = lake_schema(
    [
        pa.field("_key", pa.string()),  # the Redis LIST the message came from
        pa.field("_timezone", pa.string()),  # the dialer's time zone, for a dialed_at without offset
        # the region that numbers without a country code belong to, as configured when the batch was drained
        pa.field("_default_region", pa.string()),
    ]
)

# Indexes of the messages that are not a JSON object (one parse per message, in C++).
_NOT_AN_OBJECT = """
select idx from batch
where not coalesce(json_valid(raw) and starts_with(ltrim(raw), chr(123)), false)
"""
_local = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
    return con


def batch_table(
    items: Sequence[bytes] | pa.BinaryArray, key: str, tz_name: str, lineage: dict[str, Any]
) -> tuple[pa.Table, list[int]]:
    """The lake rows of a batch's well-formed messages (``items``: their bytes, or a binary column of them), and
    the positions of those that are not JSON objects."""
    binary = items if isinstance(items, pa.Array) else pa.array(items, pa.binary())
    try:
        raw = binary.view(pa.string())
        raw.validate(full=True)  # UTF-8, checked in one pass over the batch
    except pa.ArrowInvalid:
        # Some message is not UTF-8: find which, one by one (rare), and check the others in bulk.
        good_text: list[str | None] = []
        for item in binary.to_pylist():
            try:
                good_text.append(item.decode("utf-8"))
            except UnicodeDecodeError:
                good_text.append(None)
        raw = pa.array(good_text, pa.string())
    batch = pa.table({"idx": np.arange(len(raw), dtype=np.int32), "raw": raw})
    bad = sorted(_duckdb().sql(_NOT_AN_OBJECT).fetchnumpy()["idx"].tolist())
    if bad:
        keep = pc.invert(pc.is_in(batch["idx"], pa.array(bad, pa.int32())))
        raw = raw.filter(keep)
    n = len(raw)
    columns = []
    for field in SCHEMA:
        if field.name == "_raw":
            columns.append(raw)
        elif field.name == "_key":
            columns.append(pa.repeat(pa.scalar(key, pa.string()), n))
        elif field.name == "_timezone":
            columns.append(pa.repeat(pa.scalar(tz_name, pa.string()), n))
        elif lineage.get(field.name) is None:
            columns.append(pa.nulls(n, field.type))
        else:
            columns.append(pa.repeat(pa.scalar(lineage[field.name], field.type), n))
    return pa.Table.from_arrays(columns, schema=SCHEMA), bad
