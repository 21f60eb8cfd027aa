"""Enigma notifications as lake rows, built column by column (the drain's hot path).

A message is ``{"type": "cdr", "payload": {...}}`` on ``enigma:notifications:campaigns`` (and ``...:cdr``), or,
on the deprecated ``enigma:notifications:c2d``, ``{"notifications": [{...}, ...]}``: one row per notification.
Messages of other types are kept (``message_type`` says what they are). A message that is not a JSON object
is refused: the drain quarantines it byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa

from cdr.lake import TS, lake_schema
from cdr.values import BadRecord, as_text

PAYLOAD_FIELDS = (
    "extension", "number", "call_ref", "contact_ref", "dialed_at", "end_reason", "end_code", "call_time",
    "call_dir", "recording_url", "ref", "disposition",
)
SCHEMA = lake_schema(
    [pa.field("message_type", pa.string())]
    + [pa.field(name, pa.string()) for name in PAYLOAD_FIELDS]
    + [
        pa.field("dialed_at_utc", TS),  # dialed_at read as ISO 8601 (offset or `_timezone`) or epoch seconds
        pa.field("message_md5", pa.string()),  # identity of a message without call_ref (re-read after a crash)
        pa.field("notification_index", pa.int32()),  # position in a c2d `notifications` array
        pa.field("_key", pa.string()),
        pa.field("_timezone", pa.string()),
    ]
)


@lru_cache(maxsize=65_536)
def parse_dialed_at(value: str, tz_name: str) -> datetime | None:
    text = value.strip()
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), timezone.utc)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz_name))
    return moment.astimezone(timezone.utc)


def notifications(message: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """(type, the CDR-like objects in the message)."""
    if not isinstance(message, dict):
        raise BadRecord(f"message is a JSON {type(message).__name__}, not an object")
    if isinstance(message.get("notifications"), list):
        items = message["notifications"]
        if not all(isinstance(item, dict) for item in items):
            raise BadRecord("a c2d notification is not an object")
        # An empty list still leaves a row, so that the message itself is in the lake.
        return "c2d", items or [{}]
    payload = message.get("payload")
    return as_text(message.get("type")), [payload if isinstance(payload, dict) else {}]


class BatchColumns:
    """Accumulates rows column-wise: far cheaper than a dict per row for a million messages."""

    def __init__(self, key: str, tz_name: str, lineage: dict[str, Any]):
        self.key, self.tz_name, self.lineage = key, tz_name, lineage
        self.columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names if name not in lineage}
        self.rows = 0

    def add(self, raw: bytes) -> int:
        """Add one message; return how many rows it gave. Raises BadRecord for a message that is not JSON."""
        try:
            text = raw.decode("utf-8")
            message = json.loads(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRecord(f"not JSON: {exc}") from exc
        message_type, items = notifications(message)
        digest = hashlib.md5(raw).hexdigest()
        c = self.columns
        for index, item in enumerate(items):
            for name in PAYLOAD_FIELDS:
                value = item.get(name)
                c[name].append(value if value is None or isinstance(value, str) else as_text(value))
            dialed = c["dialed_at"][-1]
            c["dialed_at_utc"].append(parse_dialed_at(dialed, self.tz_name) if dialed else None)
            c["message_type"].append(message_type)
            c["message_md5"].append(digest if item.get("call_ref") is None else None)
            c["notification_index"].append(index if message_type == "c2d" else None)
            c["_key"].append(self.key)
            c["_timezone"].append(self.tz_name)
            c["_raw"].append(text)
        self.rows += len(items)
        return len(items)

    def table(self) -> pa.Table:
        arrays = []
        for field in SCHEMA:
            if field.name in self.lineage:
                arrays.append(pa.array([self.lineage[field.name]] * self.rows, field.type))
            else:
                arrays.append(pa.array(self.columns[field.name], field.type))
        return pa.Table.from_arrays(arrays, schema=SCHEMA)


# The common case, a well-formed {"type": ..., "payload": {...}} message, is parsed in bulk by DuckDB's JSON
# reader (C++, one parse per message); whatever it cannot read goes through BatchColumns one by one.
_SPEC = json.dumps({"type": "VARCHAR", "notifications": "JSON", "payload": {name: "VARCHAR" for name in PAYLOAD_FIELDS}})
_FAST_SQL = f"""
with parsed as materialized (
    -- materialized: parse each message once, not once per column read from it
    select idx, raw, {{parse}} as s from batch
)
select
    idx,
    s.type as message_type,
    {", ".join(f's.payload.{name} as "{name}"' for name in PAYLOAD_FIELDS)},
    case
        when regexp_full_match(trim(s.payload.dialed_at), '-?[0-9]+(\\.[0-9]+)?')
            then to_timestamp(cast(trim(s.payload.dialed_at) as double))
        else try_cast(replace(trim(s.payload.dialed_at), 'Z', '+00:00') as timestamptz)
    end as dialed_at_utc,
    -- only needed to tell apart CDRs that have no call_ref
    case when s.payload.call_ref is null then md5(raw) end as message_md5,
    cast(null as integer) as notification_index,
    raw as _raw
from parsed
where s is not null and s.notifications is null and starts_with(ltrim(raw), chr(123))
"""
_local = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
        con.execute("set enable_progress_bar = false")
    return con


def batch_table(items: list[bytes], key: str, tz_name: str, lineage: dict[str, Any]) -> tuple[pa.Table, list[bytes]]:
    """The lake rows of the well-formed messages of a batch, and the messages left for the one-by-one path."""
    try:
        raw = pa.array(items, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:  # a message that is not UTF-8: the slow path finds and quarantines it
        return SCHEMA.empty_table(), list(items)
    batch = pa.table({"idx": pa.array(range(len(items)), pa.int32()), "raw": raw})  # noqa: F841 (read by SQL)
    con = _duckdb()
    con.execute(f"set TimeZone = '{ZoneInfo(tz_name).key}'")  # dialed_at without an offset is dialer time
    try:
        fast = con.sql(_FAST_SQL.format(parse=f"json_transform(raw, '{_SPEC}')")).to_arrow_table()
    except duckdb.Error:
        # Some message is not JSON: parse again, message by message, and leave the bad ones to the slow path.
        fast = con.sql(_FAST_SQL.format(parse=f"try(json_transform(raw, '{_SPEC}'))")).to_arrow_table()
    taken = set(fast.column("idx").to_pylist()) if fast.num_rows != len(items) else None
    rest = [item for i, item in enumerate(items) if i not in taken] if taken is not None else []
    n = fast.num_rows
    columns = []
    for field in SCHEMA:
        if field.name in lineage:
            columns.append(pa.array([lineage[field.name]] * n, field.type) if lineage[field.name] is None
                           else pa.repeat(pa.scalar(lineage[field.name], field.type), n))
        elif field.name == "_key":
            columns.append(pa.repeat(pa.scalar(key, pa.string()), n))
        elif field.name == "_timezone":
            columns.append(pa.repeat(pa.scalar(tz_name, pa.string()), n))
        else:
            columns.append(fast.column(field.name).cast(field.type))
    return pa.Table.from_arrays(columns, schema=SCHEMA), rest
