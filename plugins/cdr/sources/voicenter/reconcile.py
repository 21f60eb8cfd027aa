"""Reconcile one data interval of Voicenter's webhook against its Call Log API.

The interval owns the log records whose ``Date`` falls in [start, end) (UTC), so consecutive intervals tile
time and no CDR is recovered by two of them. (This assumes the log filters on ``Date``, the call's start, as
the vendor's examples suggest; records returned but dated outside are counted as ``outside_interval``.) Each is
compared on ``CallID`` = ``ivruniqueid`` with every CDR
the webhook delivered near the interval: the lake's Voicenter rows whose ``_origin`` is webhook (or null:
rows written before the column existed) in the date partitions from a day before the interval to a day
after, plus the segments the receiver staged and ``voicenter_cdrs`` has not loaded yet (sealed ones, and the
complete lines of the one being written). Ids, not times, decide, so the margin only bounds what is read.

- A CDR the log has and the webhook did not deliver is written to the lake as a Voicenter row with the
  webhook's columns (``to_row``), ``_origin`` ``call_log`` and ``_raw`` the log record as received. The
  interval is one lake unit, ``calllog__<interval>``: a re-run replaces it (with nothing, if the webhook
  has caught up since), so the lake never holds a recovered CDR twice. A webhook copy arriving after the
  reconciliation sits beside it; the warehouse keeps one (``ivruniqueid``).
- A CDR the webhook delivered (``time`` in the interval) that the log lacks is counted and logged, never
  deleted. A log record without a CallID cannot be compared: it is quarantined whole.

Time: the log's ``Date`` is ISO 8601 at GMT 0, the true instant of the call's start; the webhook's ``time`` is
the account's wall-clock time written as epoch seconds (cdr.sources.voicenter.times). A recovered row carries both:
``time_utc`` from ``Date``, and ``time`` written as the webhook would have written it under the account's settings
(cdr.sources.voicenter.account), so the lake's ``time`` column means one thing whatever the origin. ``DateEpoch``
(undocumented convention, taken as Unix seconds) is used only for a record whose ``Date`` is missing or
unreadable.

The second witness: for every CDR both the webhook and the log have, the log's ``Date`` is kept beside the
webhook's ``time`` in a small table of its own (``lake/voicenter_time_witness``, one unit per interval, replaced
by a re-run), from which the warehouse measures per day the offset between the two
(marts.agg_voicenter_time_offset) and warns when it contradicts the account's setting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, duckdb_connect, ensure_schema_file, read_paths, readable, unit_for_interval
from cdr.sources.voicenter.account import AccountSettings, zone
from cdr.sources.voicenter.calllog import CallLogClient, fold, parse_date
from cdr.sources.voicenter.records import (
    INT_FIELDS,
    ORIGIN_CALL_LOG,
    SCHEMA,
    SOURCE,
    STRING_FIELDS,
    WITNESS_FOLDER,
    WITNESS_SCHEMA,
)
from cdr.sources.voicenter.staging import landing_folder
from cdr.sources.voicenter.times import BASIS_LOCAL, EARLIEST, LATEST, instant, webhook_time
from cdr.values import as_int, as_text, raw_json

log = logging.getLogger(__name__)

SETTLE = timedelta(minutes=15)  # "CDRs appear a few minutes after a call ends"
MARGIN = timedelta(days=1)  # how far around the interval delivered CDRs are looked for
UNIT_PREFIX = "calllog__"
LISTED_IDS = 100  # ids named in the summary and the log; the counts are always whole

# Webhook column <- Call Log field (the Call Log API document's field list). Columns the log has no field for
# (queueid, seconds_waiting_in_queue, caller_country, the *_name of extensions, TopDepartment*,
# leg1DialStatusName, caller_number) stay null; the log record is whole in _raw.
FIELD_MAP = {
    "caller": "CallerNumber",
    "target": "TargetNumber",
    "duration": "Duration",
    "ivruniqueid": "CallID",
    "type": "Type",
    "status": "DialStatus",
    "targetextension": "TargetExtension",
    "callerextension": "CallerExtension",
    "did": "DID",
    "queuename": "QueueName",
    "record": "RecordURL",
    "price": "Price",
    "dialtime": "RingTime",
    "representative_name": "RepresentativeName",
    "representative_code": "RepresentativeCode",
    "DepartmentName": "DepartmentName",
    "DepartmentID": "DepartmentId",
    "target_country": "TargetPrefixName",
}
# CdrType ids (the vendor's help texts; a TS type file adds 2, 12, 16, 20), for records without a Type name.
CDR_TYPES = {
    1: "Incoming Call",
    2: "CC",
    4: "Extension Outgoing",
    8: "Queue",
    9: "Click2Call leg1",
    10: "Click2Call leg2",
    11: "VoiceMail",
    12: "Callference",
    13: "XferCDR",
    14: "ProductiveCallLeg1",
    15: "ProductiveCallLeg2",
    16: "Scrubber",
    17: "Click 2 IVR",
    18: "Click 2 IVR Incoming",
    19: "Click 2 Queue Incoming",
    20: "FaxCdr",
    21: "Attended CDR leg1",
    22: "Attended CDR leg2",
    23: "Auto forward",
}


def call_time(record: dict) -> datetime | None:
    """The call's start as a UTC instant: ``Date``, else ``DateEpoch``."""
    folded = fold(record)
    moment = parse_date(folded.get("date"))
    if moment is not None:
        return moment
    epoch = as_int(folded.get("dateepoch"))
    if epoch is not None and EARLIEST <= epoch <= LATEST:
        return datetime.fromtimestamp(epoch, UTC)
    return None


def ivr_path(dtmf_data: Any) -> str | None:
    """DTMFData ``[{LayerName, DTMF, LayerNumber}]`` in the webhook's IVR shape; ``dtmf_order`` is the position."""
    if not isinstance(dtmf_data, list) or not dtmf_data:
        return None
    layers = []
    for order, layer in enumerate(dtmf_data, 1):
        layer = fold(layer)
        layers.append(
            {
                "layer_name": layer.get("layername"),
                "layer_number": layer.get("layernumber"),
                "Dtmf": layer.get("dtmf"),
                "dtmf_order": order,
            }
        )
    return as_text(layers)


def to_row(record: dict, lineage: dict[str, Any]) -> tuple[dict[str, Any], date | None]:
    """A log record as a Voicenter lake row, in the webhook's columns (``lineage`` holds the account's
    ``_timezone`` and ``_time_basis``)."""
    folded = fold(record)
    values = {column: folded.get(name.lower()) for column, name in FIELD_MAP.items()}
    if values["type"] in (None, ""):
        cdr_type = as_int(folded.get("cdrtype"))
        values["type"] = None if cdr_type is None else CDR_TYPES.get(cdr_type)
    values["OriginalIvrUniqueID"] = fold(folded.get("customdata")).get("originalivruniqueid")
    values["IVR"] = ivr_path(folded.get("dtmfdata"))
    moment = call_time(record)
    if moment is not None:
        defaults = AccountSettings()
        values["time"] = webhook_time(
            moment,
            zone(lineage.get("_timezone") or defaults.timezone),
            lineage.get("_time_basis") or defaults.time_basis,
        )
    row: dict[str, Any] = {name: as_text(values.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(values.get(name)) for name in INT_FIELDS})
    # Never received by cdr-receiver: no receipt time or format.
    row.update(
        {
            "received_at": None,
            "received_format": None,
            **lineage,
            "time_utc": moment,
            "_origin": ORIGIN_CALL_LOG,
            "_raw": raw_json(record),
        }
    )
    return row, moment.date() if moment else None


@dataclass
class Delivered:
    """The webhook's CDRs near an interval: every id with its ``time`` as sent, and those that started inside it."""

    ids: dict[str, int | None] = field(default_factory=dict)
    in_interval: set[str] = field(default_factory=set)
    unreadable_staged_lines: int = 0


def lake_files(start: datetime, end: datetime) -> list[str]:
    """The lake files of the days near the interval, as ``cdr.lake.writer.duckdb_connect`` reads them."""
    first, last = (start - MARGIN).date(), (end + MARGIN).date()
    return read_paths(SOURCE, [first + timedelta(days=n) for n in range((last - first).days + 1)])


def delivered_by_webhook(start: datetime, end: datetime, settings: AccountSettings | None = None) -> Delivered:
    """``settings``: how the segments not loaded yet will be read (the loader's), else the registry's defaults."""
    found = Delivered()
    settings = settings or AccountSettings()

    def note(cdr_id: Any, when: Any, started: datetime | None) -> None:
        if cdr_id in (None, ""):
            return
        found.ids[str(cdr_id)] = as_int(when)
        if started is not None and start <= started < end:
            found.in_interval.add(str(cdr_id))

    def read_lake(files: list[str]) -> None:
        if not files:
            return
        # The schema file first, so every column exists even if no data file has _origin yet.
        with duckdb_connect() as con:
            rows = con.execute(
                'select ivruniqueid, "time", time_utc, received_at, _timezone, _time_basis, dialtime, duration '
                "from read_parquet(?, union_by_name = true) where coalesce(_origin, 'webhook') = 'webhook'",
                [[readable(ensure_schema_file(SOURCE, SCHEMA)), *files]],
            ).fetchall()
        for cdr_id, when, started, received, timezone, basis, ring, talk in rows:
            if started is None:  # a file older than time_utc: read as staging reads it
                started = instant(
                    as_int(when),
                    zone(timezone or settings.timezone),
                    basis or BASIS_LOCAL,
                    received=received,
                    seconds_after_start=(ring or 0) + (talk or 0),
                )
            note(cdr_id, when, started)

    files = lake_files(start, end)
    read_lake(files)
    folder = landing_folder()
    # The segment being written first: sealing renames it to .jsonl, so it is then found by the second listing.
    for pattern in ("*.jsonl.open", "*.jsonl"):
        for segment in sorted(folder.glob(pattern)):
            try:
                data = segment.read_bytes()
            except FileNotFoundError:  # sealed or loaded since the listing: read by the next listing
                continue
            # The segment being written may end in a partial line; only whole lines were acknowledged.
            for line in data[: data.rfind(b"\n") + 1].splitlines():
                try:
                    staged = json.loads(line)
                    cdr = staged["cdr"]
                    when = as_int(cdr.get("time"))
                    started = instant(
                        when,
                        zone(settings.timezone),
                        settings.time_basis,
                        received=datetime.fromisoformat(staged["received_at"]),
                        seconds_after_start=(as_int(cdr.get("dialtime")) or 0) + (as_int(cdr.get("duration")) or 0),
                    )
                    note(cdr.get("ivruniqueid"), when, started)
                except (ValueError, KeyError, TypeError, AttributeError):
                    found.unreadable_staged_lines += 1
    # A segment loaded while we read is in the lake now and no longer in landing: read what appeared.
    read_lake([path for path in lake_files(start, end) if path not in set(files)])
    return found


def write_time_witnesses(
    owned: dict[str, dict], delivered: Delivered, lineage: dict[str, Any], unit: str, start: datetime
) -> int:
    """For each CDR of the interval both the log and the webhook have: the log's true-UTC start beside the webhook's
    ``time`` as sent, one lake unit per interval (replaced by a re-run)."""
    witness_lineage = {key: value for key, value in lineage.items() if key in WITNESS_SCHEMA.names}
    witness_lineage["_source"] = WITNESS_FOLDER
    ensure_schema_file(WITNESS_FOLDER, WITNESS_SCHEMA)
    count = 0
    with LakeWriter(WITNESS_FOLDER, WITNESS_SCHEMA, unit) as writer:
        for call_id in sorted(set(owned) & set(delivered.ids)):
            moment = call_time(owned[call_id])
            if moment is None:
                continue
            folded = fold(owned[call_id])
            raw = {"CallID": call_id, "Date": folded.get("date"), "DateEpoch": folded.get("dateepoch")}
            row = {
                **witness_lineage,
                "call_id": call_id,
                "log_started_at": moment,
                "webhook_time": delivered.ids[call_id],
                "_raw": raw_json(raw),
            }
            writer.write(row, moment.date())
            count += 1
    return count


@dataclass
class ReconcileSummary:
    interval_start: str
    interval_end: str
    in_log: int = 0
    outside_interval: int = 0  # returned for the window but dated outside it: left to the interval owning them
    delivered_by_webhook: int = 0
    recovered_from_log: int = 0
    only_in_webhook: int = 0
    log_requests: int = 0
    log_windows_halved: int = 0
    quarantined: int = 0
    time_witnesses: int = 0  # CDRs both had: the log's Date kept beside the webhook's time
    unit: str = ""
    recovered_ids: list[str] = field(default_factory=list)  # the first LISTED_IDS
    only_in_webhook_ids: list[str] = field(default_factory=list)


def listed(ids: list[str]) -> str:
    more = len(ids) - LISTED_IDS
    return ", ".join(ids[:LISTED_IDS]) + (f" and {more} more" if more > 0 else "")


def unit_name(start: datetime, end: datetime) -> str:
    return UNIT_PREFIX + unit_for_interval(start, end)


def settled(end: datetime, now: datetime | None = None) -> bool:
    """Whether the log can be expected to hold the interval's CDRs: ``SETTLE`` after its end."""
    now = now or datetime.now(UTC)
    ready = now >= end + SETTLE
    if not ready:
        log.info("Voicenter call log: waiting until %s (interval end + %s) before pulling", end + SETTLE, SETTLE)
    return ready


def reconcile_interval(
    client: CallLogClient, start: datetime, end: datetime, *, settings: AccountSettings | None = None
) -> dict:
    """Recover what the webhook missed in [start, end); recovered rows carry the account's ``settings`` (else the
    registry's defaults), as the webhook's do."""
    settings = settings or AccountSettings()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    summary = ReconcileSummary(start.isoformat(), end.isoformat(), unit=unit_name(start, end))
    pulled = client.pull(start, end)
    summary.log_requests, summary.log_windows_halved = pulled.requests, pulled.splits
    for record in pulled.unidentified:
        summary.quarantined += 1
        quarantine(
            SOURCE,
            raw_json(record).encode(),
            "Call Log record without a CallID: cannot be reconciled",
            {"interval": summary.unit},
        )
    owned = {}
    for call_id, record in pulled.records.items():
        moment = call_time(record)
        if moment is None:
            log.warning("Voicenter call log: %s has no readable Date; reconciled with this interval", call_id)
        if moment is None or start <= moment < end:
            owned[call_id] = record
        else:
            summary.outside_interval += 1
    delivered = delivered_by_webhook(start, end, settings)
    if delivered.unreadable_staged_lines:
        log.warning(
            "Voicenter call log: %d staged lines could not be read for their id (voicenter_cdrs "
            "quarantines them when it loads them)",
            delivered.unreadable_staged_lines,
        )
    missing = sorted(set(owned) - set(delivered.ids))
    lineage = {
        "_source": SOURCE,
        "_interval_start": start,
        "_interval_end": end,
        "_extracted_at": datetime.now(UTC),
        "_batch": summary.unit,
        "_default_region": settings.default_region,
        "_timezone": settings.timezone,
        "_time_basis": settings.time_basis,
    }
    ensure_schema_file(SOURCE, SCHEMA)
    with LakeWriter(SOURCE, SCHEMA, summary.unit) as writer:
        for call_id in missing:
            row, day = to_row(owned[call_id], lineage)
            writer.write(row, day or start.date())
    summary.time_witnesses = write_time_witnesses(owned, delivered, lineage, summary.unit, start)
    only_webhook = sorted(delivered.in_interval - set(pulled.records))
    summary.in_log = len(owned)
    summary.delivered_by_webhook = len(delivered.in_interval)
    summary.recovered_from_log = len(missing)
    summary.only_in_webhook = len(only_webhook)
    summary.recovered_ids = missing[:LISTED_IDS]
    summary.only_in_webhook_ids = only_webhook[:LISTED_IDS]
    log.info(
        "Voicenter call log: %s..%s: %d in the log, %d delivered by the webhook, %d recovered from the "
        "log (the webhook missed them), %d only in the webhook (kept)",
        start.isoformat(),
        end.isoformat(),
        summary.in_log,
        summary.delivered_by_webhook,
        summary.recovered_from_log,
        summary.only_in_webhook,
    )
    if summary.outside_interval:
        log.info(
            "Voicenter call log: %d records the log returned are dated outside the interval (its edges): "
            "the interval they fall in reconciles them",
            summary.outside_interval,
        )
    if missing:
        log.info("Voicenter call log: recovered %s", listed(missing))
    if only_webhook:
        log.warning("Voicenter call log: delivered by the webhook but not in the log: %s", listed(only_webhook))
    return asdict(summary)
