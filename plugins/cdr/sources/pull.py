"""The page loop every pull source shares: pages in, lake rows out, bad records to quarantine.

Invariants: a record repeated at a page edge (the same id in this page or the one before) is written once; a
record the source's converter refuses goes to quarantine as its JSON text, with the reason; ``_raw`` is the
record as JSON; the unit's files replace an earlier run's only when all of it is durable (see lake.py). A page
is converted as a whole, column by column, where the source has a converter (``to_table``); ``to_row`` remains
for sources that convert row by row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pyarrow as pa

from cdr.lake.columnar import Converted, from_rows
from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, unit_for_interval
from cdr.values import raw_json

log = logging.getLogger(__name__)


class PageLike(Protocol):
    @property
    def rows(self) -> list[Any]: ...  # read only: the sources' pages are frozen dataclasses

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


def first_sightings(ids: list[Any], previous: set[Any]) -> tuple[list[int] | None, set[Any]]:
    """The positions of the rows whose id neither the previous page (``previous``: its ids) nor an earlier row of
    this page holds, or None when that is every row (the usual page, found by two set operations); and this
    page's ids, the next page's ``previous``."""
    page_ids = set(ids)
    if len(page_ids) == len(ids) and page_ids.isdisjoint(previous):
        return None, page_ids
    seen = set(previous)
    keep = []
    for index, row_id in enumerate(ids):
        if row_id not in seen:
            seen.add(row_id)
            keep.append(index)
    return keep, page_ids


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
    to_row: Callable[[Any, dict[str, Any]], tuple[dict[str, Any], date]] | None = None,
    to_table: Callable[[list[Any], dict[str, Any]], Converted] | None = None,
    lineage: dict[str, Any] | None = None,
    prepare: Callable[[], object] | None = None,
) -> dict:
    """Write every record of ``pages`` to the lake as the unit of [start, end), replacing an earlier run's.

    A record repeated at a page edge (a known server paging bug) is written once; a record the converter
    refuses goes to quarantine with the reason. Memory holds a page and the lake writer's bounded buffer.
    ``prepare`` runs once the interval is known to be a real one, before the first page: the source's side work
    (its own-numbers list), which an empty interval (a DAG with the wrong timetable) must not trigger either.
    """
    if (to_row is None) == (to_table is None):
        raise TypeError("give either to_row or to_table")
    check_interval(start, end)
    if prepare is not None:
        prepare()
    if to_table is None:
        assert to_row is not None  # one of the two, checked above
        convert = lambda records, row_lineage: from_rows(records, row_lineage, schema, to_row)  # noqa: E731
    else:
        convert = to_table
    summary = PullSummary(start.isoformat(), end.isoformat())
    base = {
        "_source": source,
        "_interval_start": start,
        "_interval_end": end,
        "_extracted_at": datetime.now(UTC),
        **(lineage or {}),
    }
    unit = unit_for_interval(start, end)
    previous_ids: set[Any] = set()
    with LakeWriter(source, schema, unit) as writer:
        for page in pages:
            summary.pages += 1
            summary.rows_seen += len(page.rows)
            converted = convert(page.rows, {**base, "_batch": page.batch})
            for record, reason in converted.rejected:
                summary.quarantined += 1
                quarantine(source, raw_json(record).encode(), reason, {"interval": unit, "page": page.batch})
            table, days = converted.table, converted.days
            keep, previous_ids = first_sightings(table.column("id").to_pylist(), previous_ids)
            repeated = 0 if keep is None else table.num_rows - len(keep)
            if keep is not None and repeated:
                table = table.take(keep)
                days = days.take(keep) if isinstance(days, pa.Array) else [days[index] for index in keep]
            writer.write_days(table, days)
            summary.rows_written += table.num_rows
            summary.repeated_at_page_edge += repeated
            log.info(
                "%s: %s: %d rows (%d repeated, skipped); %d written so far",
                label,
                page.label,
                len(page.rows),
                repeated,
                summary.rows_written,
            )
            # The page's records, decoded, are several times its size: gone before the next page is fetched
            # (its rows are in the writer's buffer, counted in bytes).
            del page, converted, table, days
        result = writer.commit()
    summary.files = len(result.files)
    log.info("%s: interval %s .. %s done: %s", label, start, end, asdict(summary))
    return asdict(summary)
