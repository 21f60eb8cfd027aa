"""The raw Parquet lake: lake/<source>/date=YYYY-MM-DD/<source>__<unit>.parquet.

A *unit* is what one task run owns: a pull interval, or a drained batch. Its files are written to hidden
temporary names, fsynced and renamed into place, and replace whatever an earlier run of the same unit wrote,
so re-runs and back-fills never duplicate. What waits to be written is bounded in bytes across all the
unit's date partitions together (``buffer_bytes``): past it, the partition holding most is written out as one
row group. So memory follows that bound and the page or batch size, never the volume nor the number of dates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cdr import config
from cdr.fsutil import fsync_dir, publish, temp_path_for

log = logging.getLogger(__name__)

TS = pa.timestamp("us", tz="UTC")

# Lineage beside every record. ``_raw`` is the record exactly as the source sent it (JSON text), so fields
# we do not type today are still there tomorrow.
LINEAGE = [
    pa.field("_source", pa.string(), nullable=False),
    pa.field("_interval_start", TS),
    pa.field("_interval_end", TS),
    pa.field("_extracted_at", TS, nullable=False),
    pa.field("_batch", pa.string()),
    pa.field("_raw", pa.string(), nullable=False),
]


def lake_schema(typed: Iterable[pa.Field]) -> pa.Schema:
    return pa.schema([*typed, *LINEAGE])


def unit_for_interval(start: datetime, end: datetime) -> str:
    """A file-name-safe, sortable name of a data interval."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.astimezone(UTC):{fmt}}_{end.astimezone(UTC):{fmt}}"


# Row groups of several thousand CDRs (about 6,000 KAZOO rows), which DuckDB reads well; measured, 24 MiB
# bought no speed and cost 16 MB of peak RSS (bench/pbx_pull.py).
DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024
# Rows given one by one (``write``) wait as Python objects, whose size is not known, until this many are
# converted to columns at once; from then on they count in bytes like any table.
ROWS_PER_BATCH = 1024


@dataclass
class _Partition:
    final: Path
    temp: Path
    writer: pq.ParquetWriter
    tables: list[pa.Table] = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0
    rows: int = 0
    row_groups: int = 0


@dataclass
class WriteResult:
    files: list[Path]
    rows: int
    removed: list[Path]


class LakeWriter:
    """Streams one unit's rows into date partitions; ``commit`` makes them visible all at once per file."""

    def __init__(
        self,
        source: str,
        schema: pa.Schema,
        unit: str,
        *,
        lake_root: Path | None = None,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ):
        self.source = source
        self.schema = schema
        self.unit = unit
        self.root = (lake_root or config.lake_dir()) / source
        self.buffer_bytes = buffer_bytes
        self._partitions: dict[date, _Partition] = {}
        self._pending: list[tuple[dict[str, Any], date]] = []
        self._buffered = 0
        self.peak_buffered = 0  # the most bytes ever held at once, for tests and benchmarks
        self._closed = False

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._closed:
                self.commit()
        else:
            self.abort()

    def file_for(self, day: date) -> Path:
        return self.root / f"date={day.isoformat()}" / f"{self.source}__{self.unit}.parquet"

    def _partition(self, day: date) -> _Partition:
        part = self._partitions.get(day)
        if part is None:
            final = self.file_for(day)
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = temp_path_for(final)
            # Dictionary encoding only pays where values repeat; _raw never does.
            dictionary = [name for name in self.schema.names if name != "_raw"]
            writer = pq.ParquetWriter(temp, self.schema, compression="zstd", use_dictionary=dictionary)
            part = self._partitions[day] = _Partition(final, temp, writer)
        return part

    def write(self, row: dict[str, Any], day: date) -> None:
        """One row (a dict of the schema's columns) for the partition of ``day``."""
        self._pending.append((row, day))
        if len(self._pending) >= ROWS_PER_BATCH:
            self._convert_pending()

    def write_table(self, table: pa.Table, day: date) -> None:
        """Rows already in columns, all of ``day``; they keep their order behind rows written before."""
        self._convert_pending()
        self._buffer(table, day)

    def write_days(self, table: pa.Table, days: list[date]) -> None:
        """Rows in columns, row i for the partition of ``days[i]``."""
        if len(days) != table.num_rows:
            raise ValueError(f"{table.num_rows} rows but {len(days)} days")
        self._convert_pending()
        self._write_days(table, days)

    def _write_days(self, table: pa.Table, days: list[date]) -> None:
        if not days:
            return
        if days.count(days[0]) == len(days):
            self._buffer(table, days[0])
            return
        positions: dict[date, list[int]] = {}
        for index, day in enumerate(days):
            positions.setdefault(day, []).append(index)
        for day, indices in positions.items():
            self._buffer(table.take(indices), day)

    def _convert_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        table = pa.Table.from_pylist([row for row, _ in pending], schema=self.schema)
        self._write_days(table, [day for _, day in pending])

    def _buffer(self, table: pa.Table, day: date) -> None:
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"{self.source}: table columns {table.schema} differ from the lake's {self.schema}")
        part = self._partition(day)  # even for no rows: the unit then publishes an empty file for the day
        if table.num_rows == 0:
            return
        size = table.get_total_buffer_size()
        part.tables.append(table)
        part.buffered_rows += table.num_rows
        part.buffered_bytes += size
        self._buffered += size
        self.peak_buffered = max(self.peak_buffered, self._buffered)
        while self._buffered > self.buffer_bytes:
            self._flush(max(self._partitions.values(), key=lambda p: p.buffered_bytes))

    def _flush(self, part: _Partition) -> None:
        if not part.tables:
            return
        table = pa.concat_tables(part.tables)
        part.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        part.rows += table.num_rows
        part.row_groups += 1
        self._buffered -= part.buffered_bytes
        part.tables, part.buffered_rows, part.buffered_bytes = [], 0, 0

    def commit(self) -> WriteResult:
        """Publish every partition file, then remove files an earlier run of this unit left in other dates."""
        self._closed = True
        self._convert_pending()
        files, rows = [], 0
        for part in self._partitions.values():
            self._flush(part)
            part.writer.close()
            publish(part.temp, part.final)
            files.append(part.final)
            rows += part.rows
        removed = []
        for stale in self.root.glob(f"date=*/{self.source}__{self.unit}.parquet"):
            if stale not in files:
                stale.unlink()
                fsync_dir(stale.parent)
                removed.append(stale)
        ensure_schema_file(self.source, self.schema, self.root.parent)
        for path in files:
            log.info("%s: wrote %s", self.source, path)
        for path in removed:
            log.info("%s: removed %s, which an earlier run of %s wrote", self.source, path, self.unit)
        return WriteResult(files=files, rows=rows, removed=removed)

    def abort(self) -> None:
        self._closed = True
        self._pending.clear()
        for part in self._partitions.values():
            try:
                part.writer.close()
            finally:
                part.temp.unlink(missing_ok=True)


def ensure_schema_file(source: str, schema: pa.Schema, lake_root: Path | None = None) -> Path:
    """A zero-row file with the source's columns, so its dbt source reads (as empty) before any data lands."""
    folder = (lake_root or config.lake_dir()) / source
    path = folder / "_schema.parquet"
    if path.exists() and pq.read_schema(path).equals(schema, check_metadata=False):
        return path
    folder.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(path)
    pq.write_table(schema.empty_table(), temp)
    publish(temp, path)
    return path


def sweep_temporaries(source: str, lake_root: Path | None = None) -> int:
    """Remove the hidden temporaries a killed writer of ``source`` left. Call only while no other writer of
    the source can run (the Enigma drain holds its lease)."""
    removed = 0
    for temp in ((lake_root or config.lake_dir()) / source).rglob(".*.tmp"):
        temp.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("%s: removed %d temporaries left by a killed run", source, removed)
    return removed
