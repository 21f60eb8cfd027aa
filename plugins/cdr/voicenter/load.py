"""Load the segments the receiver sealed into the lake, then set them aside in ``loaded/``.

A segment is one lake unit (named after it), so a load killed after writing the lake but before moving the
segment only rewrites the same file next time: nothing lost, nothing doubled. ``.open`` segments are still
being written and are left for the next run. A line that cannot be read or converted (not JSON, outside
cdr.voicenter.bounds: a receiver older than the bounds may have staged it) goes to quarantine byte for byte and
the rest of the segment loads, so no line can hold a segment, or the ones after it, in ``landing/``.
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
from cdr.lake import LakeWriter, ensure_schema_file
from cdr.quarantine import quarantine
from cdr.values import as_int, as_text, raw_json
from cdr.voicenter.account import AccountSettings, zone
from cdr.voicenter.bounds import OutOfBounds, check
from cdr.voicenter.records import INT_FIELDS, ORIGIN_WEBHOOK, SCHEMA, SOURCE, STRING_FIELDS
from cdr.voicenter.staging import landing_folder
from cdr.voicenter.times import instant

log = logging.getLogger(__name__)


@dataclass
class LoadSummary:
    segments: int = 0
    cdrs: int = 0
    quarantined: int = 0


def to_row(line: bytes, lineage: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    record = orjson.loads(line)
    received = datetime.fromisoformat(record["received_at"])
    cdr = check(record["cdr"], received.timestamp())
    row = {name: as_text(cdr.get(name)) for name in STRING_FIELDS}
    row.update({name: as_int(cdr.get(name)) for name in INT_FIELDS})
    row.update(lineage)
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
            "_raw": raw_json(cdr),
            "_origin": ORIGIN_WEBHOOK,
        }
    )
    return row, (started or received).date()


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
        lineage = {
            "_source": SOURCE,
            "_extracted_at": datetime.now(UTC),
            "_batch": segment.stem,
            "_default_region": region,
            "_timezone": settings.timezone,
            "_time_basis": settings.time_basis,
        }
        count = bad = 0
        with LakeWriter(SOURCE, SCHEMA, segment.stem) as writer, open(segment, "rb") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    row, day = to_row(line, lineage)
                except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                    bad += 1
                    # The reason names what is wrong, never the line's text (an exception's message may quote it).
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
