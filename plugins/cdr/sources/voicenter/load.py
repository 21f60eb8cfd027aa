"""Load the segments the receiver sealed into the lake, then set them aside in ``loaded/``.

A segment is one lake unit (named after it), so a load killed after writing the lake but before moving the
segment only rewrites the same file next time: nothing lost, nothing doubled. ``.open`` segments are still
being written and are left for the next run, and so is a sealed segment whose lock a receiver still holds (it is
finishing its seal) or another load holds (cdr.sources.voicenter.staging: one writer per segment).

A line is quarantined, byte for byte, only when it is not a CDR: not JSON, or outside cdr.sources.voicenter.bounds (no
usable ``ivruniqueid``). Every other line is a row, whatever its values: a typed column gets null where a value
cannot be typed (a ``time`` of 0 or a 30-digit price, text where a number belongs), ``_raw`` keeps the value, and
staging counts it. So no line can hold a segment, or the ones after it, in ``landing/``.

``_raw`` is the CDR's fields as JSON, the vendor's names at the top, for staging's ``json_extract``. Where those
fields are not the body's own JSON (a form, XML-RPC, or JSON that had to be read leniently: voicenter.formats),
``_raw`` also holds the body as it arrived, under ``_received_body`` (text) or ``_received_body_base64``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from cdr.access import ensure_dir
from cdr.fsutil import fsync_dir
from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, ensure_schema_file
from cdr.sources.voicenter.account import AccountSettings, zone
from cdr.sources.voicenter.bounds import OutOfBounds, check
from cdr.sources.voicenter.records import INT_FIELDS, ORIGIN_WEBHOOK, SCHEMA, SOURCE, STRING_FIELDS
from cdr.sources.voicenter.staging import landing_folder, still_named, try_lock
from cdr.sources.voicenter.times import instant
from cdr.values import as_int, as_text, raw_json

log = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    segments: int = 0
    cdrs: int = 0
    quarantined: int = 0


def to_row(line: bytes, lineage: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    record = orjson.loads(line)
    received = datetime.fromisoformat(record["received_at"])
    cdr = check(record["cdr"])
    # the documented fields whatever their casing (an account's `IvrUniqueId` is the `ivruniqueid` column)
    fields = cdr if all(name in cdr for name in STRING_FIELDS) else _by_lower_name(cdr)
    row: dict[str, Any] = {name: as_text(fields.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(fields.get(name)) for name in INT_FIELDS})
    row.update(lineage)
    # the call's true start (voicenter.times); a `time` that names no call leaves it null, and the row in the
    # partition of the day it was received
    started = instant(
        row["time"],
        zone(lineage["_timezone"]),
        lineage["_time_basis"],
        received=received,
        seconds_after_start=(row["dialtime"] or 0) + (row["duration"] or 0),
    )
    row.update(
        {
            "received_at": received,
            "received_format": record.get("format"),
            "time_utc": started,
            "_raw": raw_of(record, cdr),
            "_origin": ORIGIN_WEBHOOK,
        }
    )
    return row, (started or received).date()


_LOWER = {name.lower(): name for name in (*STRING_FIELDS, *INT_FIELDS)}


def _by_lower_name(cdr: dict[str, Any]) -> dict[str, Any]:
    """The CDR keyed by the lake's column names, matched without regard to case; an exact name wins."""
    fields: dict[str, Any] = {}
    for key, value in cdr.items():
        column = _LOWER.get(key.lower()) if type(key) is str else None
        if column is not None and (column not in fields or key == column):
            fields[column] = value
    return fields


def raw_of(record: dict[str, Any], cdr: dict[str, Any]) -> str:
    """``_raw`` of a staged line (see the module's docstring)."""
    if record.get("format") == "json" and record.get("exact", True):
        return raw_json(cdr)
    kept = {**cdr}
    if "body" in record:
        kept["_received_body"] = record["body"]
    elif "body_base64" in record:
        kept["_received_body_base64"] = record["body_base64"]
    return raw_json(kept)


def load_staged(default_region: str | None = None, settings: AccountSettings | None = None) -> dict:
    """Load every sealed segment; its rows carry ``settings`` (else the registry's defaults; ``default_region``
    overrides its region)."""
    folder = landing_folder()
    done = folder / "loaded"
    summary = LoadSummary()
    ensure_schema_file(SOURCE, SCHEMA)
    settings = settings or AccountSettings()
    region = default_region or settings.default_region
    for segment in sorted(folder.glob("*.jsonl")):
        try:
            fd = os.open(segment, os.O_RDONLY)
        except FileNotFoundError:  # loaded by another run since the listing
            continue
        with open(fd, "rb") as fh:
            # Held by a receiver finishing its seal, or by another load: theirs (cdr.sources.voicenter.staging).
            if not try_lock(fh.fileno()) or not still_named(fh.fileno(), segment):
                log.info("Voicenter: %s is held by another process; left for the next run", segment.name)
                continue
            lineage = {
                "_source": SOURCE,
                "_extracted_at": datetime.now(UTC),
                "_batch": segment.stem,
                "_default_region": region,
                "_timezone": settings.timezone,
                "_time_basis": settings.time_basis,
            }
            count = bad = 0
            with LakeWriter(SOURCE, SCHEMA, segment.stem) as writer:
                for number, line in enumerate(fh, 1):
                    try:
                        row, day = to_row(line, lineage)
                    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                        bad += 1
                        # The reason names what is wrong, never the line's text (an exception's message may
                        # quote it).
                        why = str(exc) if isinstance(exc, OutOfBounds) else type(exc).__name__
                        quarantine(
                            SOURCE, line, f"staged line unreadable: {why}", {"segment": segment.name, "line": number}
                        )
                        continue
                    writer.write(row, day)
                    count += 1
            ensure_dir(done)
            os.replace(segment, done / segment.name)
            fsync_dir(done)
            fsync_dir(folder)
        summary.segments += 1
        summary.cdrs += count
        summary.quarantined += bad
        log.info("Voicenter: loaded %s: %d CDRs, %d quarantined", segment.name, count, bad)
    log.info("Voicenter: load done: %s (segments still being written are left for the next run)", asdict(summary))
    return asdict(summary)
