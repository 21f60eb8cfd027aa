"""While1 PBX result rows as lake rows: the documented fields as sent, call times also in UTC."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from cdr.lake import TS, lake_schema
from cdr.pbx.client import LOCAL_FORMAT
from cdr.values import BadRecord, as_int, as_text, raw_json

STRING_FIELDS = (
    "id", "uniqueid", "linkedid", "time", "time_end", "caller_id", "source", "destination", "direction",
    "channel_formatted", "dstchannel_formatted", "customer_id", "user_fullname", "qname", "code", "call_status",
    "call_status_info", "call_codes", "accounting_code", "accounting_value", "comments", "monitor_files",
    "monitor_urls", "recording_file", "recording_url", "transfers", "project", "inbound_route",
    "inbound_route_id", "queue_log", "ivr_log", "external_id", "external_info", "agent_details", "is_recovered",
    "transcription_id", "transcription_text", "bill_duration", "duration", "ivr_duration", "hold_time",
    "ring_time",
)
INT_FIELDS = ("bill_minutes",)

SCHEMA = lake_schema(
    [pa.field(name, pa.string()) for name in STRING_FIELDS]
    + [pa.field(name, pa.int64()) for name in INT_FIELDS]
    # `time`/`time_end` read in the PBX's time zone (the connection's, recorded in `_timezone`).
    + [pa.field("time_utc", TS), pa.field("time_end_utc", TS), pa.field("_timezone", pa.string())]
)


def uniqueid_epoch(uniqueid: Any) -> float | None:
    """Asterisk's uniqueid starts with the Unix time the channel was created (``1710401324.480``)."""
    try:
        return float(str(uniqueid).split(".")[0])
    except (TypeError, ValueError):
        return None


def local_to_utc(text: str, tz: ZoneInfo, hint: float | None = None) -> datetime:
    """PBX wall-clock time to UTC. In the hour that repeats when daylight saving ends, the reading nearer
    ``hint`` (the uniqueid's Unix time) wins; without a hint, the earlier one."""
    naive = datetime.strptime(text, LOCAL_FORMAT)
    readings = sorted({naive.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc) for fold in (0, 1)})
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


def to_lake_row(record: Any, lineage: dict[str, Any]) -> tuple[dict[str, Any], date]:
    if not isinstance(record, dict):
        raise BadRecord(f"row is a {type(record).__name__}, not an object")
    if record.get("id") in (None, ""):
        raise BadRecord("row has no id")
    tz = ZoneInfo(lineage["_timezone"])
    hint = uniqueid_epoch(record.get("uniqueid"))
    try:
        started = local_to_utc(str(record["time"]), tz, hint)
    except (KeyError, ValueError) as exc:
        raise BadRecord(f"unreadable call time {record.get('time')!r}: {exc}") from exc
    ended = None
    if record.get("time_end"):
        duration = hms_seconds(record.get("duration"))
        try:
            ended = local_to_utc(str(record["time_end"]), tz, None if hint is None else hint + (duration or 0))
        except ValueError as exc:
            raise BadRecord(f"unreadable end time {record.get('time_end')!r}: {exc}") from exc
    row: dict[str, Any] = {name: as_text(record.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(record.get(name)) for name in INT_FIELDS})
    row.update(lineage)
    row.update({"time_utc": started, "time_end_utc": ended, "_raw": raw_json(record)})
    return row, started.date()
