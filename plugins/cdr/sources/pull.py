"""The page loop every pull source shares: pages in, lake rows out, bad records to quarantine.

Invariants: a record repeated at a page edge (the same id in this page or the one before; small pages are
converted together, and then within and just before the group) is written once; a record the source's converter
refuses goes to quarantine as its JSON text, with the reason; ``_raw`` is the
record as JSON; the unit's files replace an earlier run's only when all of it is durable (see lake.py). A page
is converted as a whole, column by column, where the source has a converter (``to_table``); ``to_row`` remains
for sources that convert row by row.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pyarrow as pa

from cdr.lake.columnar import Converted, from_rows
from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, unit_for_interval
from cdr.sources.http import Records
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


# Small pages are converted together, up to this many records: converting a page costs a dozen Arrow calls
# whatever its size, which on the PBX's 100-row pages (or KAZOO's at 50) was a third of the pull's time.
CONVERT_ROWS = 1000


def _joined(pages: list[list[Any]]) -> list[Any]:
    """The records of several pages as one page; with each record's bytes as sent where every page has them."""
    if len(pages) == 1:
        return pages[0]
    records = [record for page in pages for record in page]
    sent = [getattr(page, "raw", None) for page in pages]
    if all(raw is not None for raw in sent):
        return Records(records, [item for raw in sent if raw is not None for item in raw])
    return records


def _sent(page: PageLike) -> bool:
    return getattr(page.rows, "raw", None) is not None


def _rejected_on(pages: list[PageLike], rejected: list[tuple[Any, str]]) -> list[PageLike]:
    """The page each refused record came from (converters refuse records in their order)."""
    if not rejected:
        return []
    found: list[PageLike] = []
    for page in pages:
        for record in page.rows:
            if len(found) < len(rejected) and record is rejected[len(found)][0]:
                found.append(page)
    if len(found) != len(rejected):
        raise AssertionError("a converter refused records out of their order")
    return found


def _batch_per_row(table: pa.Table, pages: list[PageLike], rejected_on: list[PageLike]) -> pa.Table:
    """``_batch`` of each row of several pages converted together: its own page's."""
    refused = Counter(id(page) for page in rejected_on)
    batches = pa.array(
        [page.batch for page in pages for _ in range(len(page.rows) - refused[id(page)])],
        table.schema.field("_batch").type,
    )
    return table.set_column(table.schema.get_field_index("_batch"), "_batch", batches)


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
    refuses goes to quarantine with the reason. Memory holds a page (or small pages up to ``CONVERT_ROWS`` records)
    and the lake writer's bounded buffer.
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
    held: list[PageLike] = []
    held_rows = 0
    with LakeWriter(source, schema, unit) as writer:

        def write_held() -> None:
            nonlocal previous_ids
            converted = convert(_joined([page.rows for page in held]), {**base, "_batch": held[0].batch})
            table, days = converted.table, converted.days
            rejected_on = _rejected_on(held, converted.rejected)
            for (record, reason), page in zip(converted.rejected, rejected_on):
                summary.quarantined += 1
                quarantine(source, raw_json(record).encode(), reason, {"interval": unit, "page": page.batch})
            if len(held) > 1:
                table = _batch_per_row(table, held, rejected_on)
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
                held[0].label if len(held) == 1 else f"{held[0].label} to {held[-1].label} ({len(held)} pages)",
                sum(len(page.rows) for page in held),
                repeated,
                summary.rows_written,
            )

        for page in pages:
            summary.pages += 1
            summary.rows_seen += len(page.rows)
            if held and _sent(held[-1]) != _sent(page):
                # a page with its bytes as sent beside one without: converted apart, so that neither loses them
                write_held()
                held, held_rows = [], 0
            held.append(page)
            held_rows += len(page.rows)
            # The page's records, decoded, are several times its size: not held by this loop while the next
            # page is fetched, unless it is a small one waiting for more (see CONVERT_ROWS).
            del page
            if held_rows >= CONVERT_ROWS:
                write_held()
                held, held_rows = [], 0
        if held:
            write_held()
            held = []
        result = writer.commit()
    summary.files = len(result.files)
    log.info("%s: interval %s .. %s done: %s", label, start, end, asdict(summary))
    return asdict(summary)
