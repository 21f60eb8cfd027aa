"""KAZOO list rows as lake rows: the documented summary fields typed, the whole row kept in ``_raw``.

``to_lake_row`` defines a row; ``to_lake_table`` converts a whole page column by column and must give exactly
the rows ``to_lake_row`` gives (tests/unit/test_columnar.py checks it on generated and odd pages).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cdr.lake.columnar import Converted, assemble, raw_column, sent_column, typed_columns
from cdr.lake.writer import lake_schema
from cdr.sources.kazoo.client import GREGORIAN_UNIX_OFFSET, from_gregorian
from cdr.values import BadRecord, as_int, as_text, raw_json

INT_FIELDS = ("duration_seconds", "billing_seconds", "timestamp", "unix_timestamp")
STRING_FIELDS = (
    "id",
    "call_id",
    "caller_id_number",
    "caller_id_name",
    "callee_id_number",
    "callee_id_name",
    "hangup_cause",
    "other_leg_call_id",
    "owner_id",
    "to",
    "from",
    "direction",
    "request",
    "authorizing_id",
    "cost",
    "dialed_number",
    "calling_from",
    "datetime",
    "rfc_1036",
    "iso_8601",
    "call_type",
    "rate",
    "rate_name",
    "bridge_id",
    "recording_url",
    "media_server",
    "call_priority",
    "interaction_id",
)

SCHEMA = lake_schema(
    [pa.field(name, pa.string()) for name in STRING_FIELDS]
    + [pa.field(name, pa.int64()) for name in INT_FIELDS]
    # The region that numbers without a country code belong to, as configured when the row was pulled.
    + [pa.field("_default_region", pa.string())]
)


def _why_not_a_cdr(record: Any) -> str | None:
    """Why a list row cannot be kept as a CDR, or None: only a row that is no object, or has no id to tell it by
    (a string, or a number: both are kept as text). Any other value, however odd, is kept (accept every CDR)."""
    if not isinstance(record, dict):
        return f"row is a {type(record).__name__}, not an object"
    ident = record.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip():
        return "row has no id"
    return None


def to_lake_row(record: Any, lineage: dict[str, Any]) -> tuple[dict[str, Any], date]:
    """The lake row for one list row, and the date partition it belongs to (the call's start, UTC)."""
    why = _why_not_a_cdr(record)
    if why:
        raise BadRecord(why)
    row: dict[str, Any] = {name: as_text(record.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(record.get(name)) for name in INT_FIELDS})
    row.update(lineage)
    row["_raw"] = raw_json(record)
    return row, _day(row["timestamp"], lineage)


TYPED = [SCHEMA.field(name) for name in (*STRING_FIELDS, *INT_FIELDS)]
_EPOCH = date(1970, 1, 1)
# The Gregorian seconds of 0001-01-01 and of 9999-12-31 23:59:59: the dates Python has, so the ones from_gregorian
# gives; a start outside them (or none) dates its row by its interval.
_CALENDAR = (31_622_400, 315_569_519_999)


def _day(started: int | None, lineage: dict[str, Any]) -> date:
    """The call's start date (UTC); a row without a start, or with one no calendar has, belongs to its
    interval's first day (staging counts the value)."""
    start: datetime = lineage["_interval_start"]
    if not started:
        return start.date()
    try:
        return from_gregorian(started).date()
    except (ValueError, OverflowError, OSError):
        return start.date()


def to_lake_table(records: list[Any], lineage: dict[str, Any]) -> Converted:
    """A page of list rows as lake rows, column by column: the rows ``to_lake_row`` gives, in order."""
    good, positions, rejected = [], [], []
    for position, record in enumerate(records):
        why = _why_not_a_cdr(record)
        if why:
            rejected.append((record, why))
        else:
            good.append(record)
            positions.append(position)
    raw, kinds = sent_column(records, positions), None
    if raw is None:
        raw, kinds = raw_column(good)
    columns = typed_columns(good, TYPED, kinds)
    columns["_raw"] = raw
    table = assemble(SCHEMA, columns, lineage, len(good))
    return Converted(table, _days(columns["timestamp"], lineage), rejected)


def _days(starts: pa.Array, lineage: dict[str, Any]) -> pa.Array:
    """``_day`` of each start, column-wise: a start a calendar has gives its UTC date (a whole division since 1970,
    floored before it), any other its interval's first day. A page of odd starts (Unix seconds where Gregorian
    ones are documented, say) costs no Python pass either."""
    if len(starts) and not starts.null_count:
        first, last = (value.as_py() for value in pc.min_max(starts).values())
        if first >= GREGORIAN_UNIX_OFFSET and last <= _CALENDAR[1]:  # since 1970: a whole division, page at once
            return pc.divide(pc.subtract(starts, GREGORIAN_UNIX_OFFSET), 86_400).cast(pa.int32()).cast(pa.date32())
    low, high = _CALENDAR
    usable = pc.fill_null(pc.and_(pc.greater_equal(starts, low), pc.less_equal(starts, high)), False)
    seconds = pc.subtract(pc.if_else(usable, starts, GREGORIAN_UNIX_OFFSET), GREGORIAN_UNIX_OFFSET)
    numbers = pc.floor(pc.divide(pc.cast(seconds, pa.float64()), 86_400.0)).cast(pa.int32())
    interval = (lineage["_interval_start"].date() - _EPOCH).days
    return pc.if_else(usable, numbers, pa.scalar(interval, pa.int32())).cast(pa.date32())
