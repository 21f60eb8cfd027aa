"""The page loop every pull source shares: pages in, lake rows out, bad records to quarantine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

import pyarrow as pa

from cdr.lake import LakeWriter, unit_for_interval
from cdr.quarantine import quarantine
from cdr.values import BadRecord, raw_json

log = logging.getLogger(__name__)


class PageLike(Protocol):
    rows: list[Any]

    @property
    def label(self) -> str: ...  # for the log: "window 1/2 page 3"

    @property
    def batch(self) -> str: ...  # for the _batch lineage column


@dataclass
class PullSummary:
    interval_start: str
    interval_end: str
    pages: int = 0
    rows_seen: int = 0
    rows_written: int = 0
    repeated_at_page_edge: int = 0
    quarantined: int = 0
    files: int = 0


def check_interval(start: datetime, end: datetime) -> None:
    if start >= end:
        raise ValueError(
            f"empty data interval {start} .. {end}: the DAG needs a timetable whose interval spans its period"
        )


def pull_into_lake(
    *,
    source: str,
    label: str,
    schema: pa.Schema,
    start: datetime,
    end: datetime,
    pages: Iterable[PageLike],
    to_row: Callable[[Any, dict[str, Any]], tuple[dict[str, Any], date]],
    lineage: dict[str, Any] | None = None,
) -> dict:
    """Write every record of ``pages`` to the lake as the unit of [start, end), replacing an earlier run's.

    A record repeated at a page edge (a known server paging bug) is written once; a record ``to_row``
    refuses goes to quarantine with the reason. Memory holds one page and one row group per date.
    """
    check_interval(start, end)
    summary = PullSummary(start.isoformat(), end.isoformat())
    base = {
        "_source": source, "_interval_start": start, "_interval_end": end,
        "_extracted_at": datetime.now(timezone.utc), **(lineage or {}),
    }
    unit = unit_for_interval(start, end)
    previous_ids: set[str] = set()
    with LakeWriter(source, schema, unit) as writer:
        for page in pages:
            summary.pages += 1
            row_lineage = {**base, "_batch": page.batch}
            page_ids: set[str] = set()
            repeated = 0
            for record in page.rows:
                summary.rows_seen += 1
                try:
                    row, day = to_row(record, row_lineage)
                except BadRecord as exc:
                    summary.quarantined += 1
                    quarantine(source, raw_json(record).encode(), str(exc), {"interval": unit, "page": page.batch})
                    continue
                if row["id"] in previous_ids or row["id"] in page_ids:
                    repeated += 1
                    continue
                page_ids.add(row["id"])
                writer.write(row, day)
                summary.rows_written += 1
            summary.repeated_at_page_edge += repeated
            previous_ids = page_ids
            log.info("%s: %s: %d rows (%d repeated, skipped); %d written so far",
                     label, page.label, len(page.rows), repeated, summary.rows_written)
        result = writer.commit()
    summary.files = len(result.files)
    log.info("%s: interval %s .. %s done: %s", label, start, end, asdict(summary))
    return asdict(summary)
