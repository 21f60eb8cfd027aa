"""KAZOO list rows as lake rows: the documented summary fields typed, the whole row kept in ``_raw``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa

from cdr.kazoo.client import from_gregorian
from cdr.lake import lake_schema
from cdr.values import BadRecord, as_int, as_text, raw_json

INT_FIELDS = ("duration_seconds", "billing_seconds", "timestamp", "unix_timestamp")
STRING_FIELDS = (
    "id", "call_id", "caller_id_number", "caller_id_name", "callee_id_number", "callee_id_name",
    "hangup_cause", "other_leg_call_id", "owner_id", "to", "from", "direction", "request", "authorizing_id",
    "cost", "dialed_number", "calling_from", "datetime", "rfc_1036", "iso_8601", "call_type", "rate",
    "rate_name", "bridge_id", "recording_url", "media_server", "call_priority", "interaction_id",
)

SCHEMA = lake_schema(
    [pa.field(name, pa.string()) for name in STRING_FIELDS]
    + [pa.field(name, pa.int64()) for name in INT_FIELDS]
    # The region that numbers without a country code belong to, as configured when the row was pulled.
    + [pa.field("_default_region", pa.string())]
)


def to_lake_row(record: Any, lineage: dict[str, Any]) -> tuple[dict[str, Any], date]:
    """The lake row for one list row, and the date partition it belongs to (the call's start, UTC)."""
    if not isinstance(record, dict):
        raise BadRecord(f"row is a {type(record).__name__}, not an object")
    if not isinstance(record.get("id"), str) or not record["id"]:
        raise BadRecord("row has no string id")
    row: dict[str, Any] = {name: as_text(record.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(record.get(name)) for name in INT_FIELDS})
    row.update(lineage)
    row["_raw"] = raw_json(record)
    return row, _start_day(row["timestamp"], lineage)


def _start_day(started: int | None, lineage: dict[str, Any]) -> date:
    """The call's start date, UTC; a timestamp no calendar holds (the model counts it as invalid) files the row
    under its interval's day, so that one bad field never stops a pull."""
    if started:
        try:
            return from_gregorian(started).date()
        except (OverflowError, OSError, ValueError):
            pass
    return _interval_day(lineage)


def _interval_day(lineage: dict[str, Any]) -> date:
    start: datetime = lineage["_interval_start"]
    return start.date()
