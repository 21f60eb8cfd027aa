"""While1 PBX result rows as lake rows: the documented fields as sent, call times also in UTC.

``to_lake_row`` defines a row; ``to_lake_table`` converts a whole page column by column and must give exactly
the rows ``to_lake_row`` gives (tests/unit/test_columnar.py checks it on generated and odd pages).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from cdr.lake.columnar import Converted, assemble, raw_column, sent_column, typed_columns
from cdr.lake.writer import TS, lake_schema
from cdr.sources.pbx.client import LOCAL_FORMAT
from cdr.values import BadRecord, as_int, as_text, raw_json

STRING_FIELDS = (
    "id",
    "uniqueid",
    "linkedid",
    "time",
    "time_end",
    "caller_id",
    "source",
    "destination",
    "direction",
    "channel_formatted",
    "dstchannel_formatted",
    "customer_id",
    "user_fullname",
    "qname",
    "code",
    "call_status",
    "call_status_info",
    "call_codes",
    "accounting_code",
    "accounting_value",
    "comments",
    "monitor_files",
    "monitor_urls",
    "recording_file",
    "recording_url",
    "transfers",
    "project",
    "inbound_route",
    "inbound_route_id",
    "queue_log",
    "ivr_log",
    "external_id",
    "external_info",
    "agent_details",
    "is_recovered",
    "transcription_id",
    "transcription_text",
    "bill_duration",
    "duration",
    "ivr_duration",
    "hold_time",
    "ring_time",
)
INT_FIELDS = ("bill_minutes",)

SCHEMA = lake_schema(
    [pa.field(name, pa.string()) for name in STRING_FIELDS]
    + [pa.field(name, pa.int64()) for name in INT_FIELDS]
    # `time`/`time_end` read in the PBX's time zone (the connection's, recorded in `_timezone`).
    + [pa.field("time_utc", TS), pa.field("time_end_utc", TS), pa.field("_timezone", pa.string())]
    # The region that numbers without a country code belong to, as configured when the row was pulled.
    + [pa.field("_default_region", pa.string())]
)


def uniqueid_epoch(uniqueid: Any) -> float | None:
    """Asterisk's uniqueid starts with the Unix time the channel was created (``1710401324.480``)."""
    try:
        return float(str(uniqueid).split(".")[0])
    except (TypeError, ValueError):
        return None


# The shape the PBX writes. For it, fromisoformat reads what strptime(LOCAL_FORMAT) reads, several times
# faster, and refuses the same out-of-range values with a ValueError; any other text goes to strptime.
_LOCAL_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_local(text: str) -> datetime:
    if _LOCAL_SHAPE.fullmatch(text):
        return datetime.fromisoformat(text)
    return datetime.strptime(text, LOCAL_FORMAT)


def _wall_labelled_utc(text: str) -> datetime:
    if _LOCAL_SHAPE.fullmatch(text):
        return datetime.fromisoformat(text + "+00:00")
    return datetime.strptime(text, LOCAL_FORMAT).replace(tzinfo=UTC)


@functools.lru_cache(maxsize=4096)
def _steady_offset(tz: ZoneInfo, hour: str) -> timedelta | None:
    """The zone's one offset through the wall-clock hour ``YYYY-MM-DD HH``, or None where it changes (or may):
    both folds agree at its first and its last second. No zone changes its offset twice within an hour."""
    try:
        first = datetime.fromisoformat(f"{hour}:00:00")
        last = datetime.fromisoformat(f"{hour}:59:59")
    except ValueError:
        return None
    offsets = {tz.utcoffset(moment.replace(fold=fold)) for moment in (first, last) for fold in (0, 1)}
    return offsets.pop() if len(offsets) == 1 else None


def local_to_utc(text: str, tz: ZoneInfo, hint: float | None = None) -> datetime:
    """PBX wall-clock time to UTC. In the hour that repeats when daylight saving ends, the reading nearer
    ``hint`` (the uniqueid's Unix time) wins; without a hint, the earlier one."""
    # A zone's utcoffset reads only the wall-clock fields and fold of what it is given, so the wall time
    # labelled UTC minus the zone's offset is the instant, whenever both folds agree on the offset.
    if _LOCAL_SHAPE.fullmatch(text):
        offset = _steady_offset(tz, text[:13])
        if offset is not None:
            return datetime.fromisoformat(text + "+00:00") - offset
    wall = _wall_labelled_utc(text)
    offset = tz.utcoffset(wall)
    assert offset is not None  # tzinfo's signature allows None; a ZoneInfo has an offset for every time
    if offset == tz.utcoffset(wall.replace(fold=1)):
        return wall - offset
    naive = wall.replace(tzinfo=None)
    readings = sorted({naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    if hint is None or len(readings) == 1:
        return readings[0]
    return min(readings, key=lambda moment: abs(moment.timestamp() - hint))


def hms_seconds(text: Any) -> int | None:
    if not isinstance(text, str) or text.count(":") != 2:
        return None
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def call_times(record: Any, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The call's start and end in UTC, None where a time cannot be read (the row is kept all the same: staging
    counts the value and dates the leg by its interval); BadRecord only for a record that is no CDR."""
    if not isinstance(record, dict):
        raise BadRecord(f"row is a {type(record).__name__}, not an object")
    if record.get("id") in (None, ""):
        raise BadRecord("row has no id")
    hint = uniqueid_epoch(record.get("uniqueid"))
    try:
        started = local_to_utc(str(record["time"]), tz, hint)
    except (KeyError, ValueError, OverflowError):
        started = None
    ended = None
    if record.get("time_end"):
        duration = hms_seconds(record.get("duration"))
        try:
            ended = local_to_utc(str(record["time_end"]), tz, None if hint is None else hint + (duration or 0))
        except (ValueError, OverflowError):
            ended = None
    return started, ended


def _day(started: datetime | None, lineage: dict[str, Any]) -> date:
    """The partition of a row: its call's start date (UTC), else its interval's first day."""
    return started.date() if started is not None else lineage["_interval_start"].date()


def to_lake_row(record: Any, lineage: dict[str, Any]) -> tuple[dict[str, Any], date]:
    started, ended = call_times(record, ZoneInfo(lineage["_timezone"]))
    row: dict[str, Any] = {name: as_text(record.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(record.get(name)) for name in INT_FIELDS})
    row.update(lineage)
    row.update({"time_utc": started, "time_end_utc": ended, "_raw": raw_json(record)})
    return row, _day(started, lineage)


TYPED = [SCHEMA.field(name) for name in (*STRING_FIELDS, *INT_FIELDS)]


def to_lake_table(records: list[Any], lineage: dict[str, Any]) -> Converted:
    """A page of result rows as lake rows, column by column: the rows ``to_lake_row`` gives, in order."""
    tz = ZoneInfo(lineage["_timezone"])
    good, positions, starts, ends, rejected = [], [], [], [], []
    for position, record in enumerate(records):
        try:
            started, ended = call_times(record, tz)
        except BadRecord as exc:
            rejected.append((record, str(exc)))
            continue
        good.append(record)
        positions.append(position)
        starts.append(started)
        ends.append(ended)
    raw, kinds = sent_column(records, positions), None
    if raw is None:
        raw, kinds = raw_column(good)
    columns = typed_columns(good, TYPED, kinds)
    columns.update({"_raw": raw, "time_utc": pa.array(starts, TS), "time_end_utc": pa.array(ends, TS)})
    return Converted(assemble(SCHEMA, columns, lineage, len(good)), [_day(s, lineage) for s in starts], rejected)
