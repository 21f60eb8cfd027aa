"""The raw Parquet lake: lake/<source>/date=YYYY-MM-DD/<source>__<unit>.parquet.

A *unit* is what one task run owns: a pull interval, or a drained batch. Its files are written to hidden
temporary names, fsynced and renamed into place, and replace whatever an earlier run of the same unit wrote,
so re-runs and back-fills never duplicate. What waits to be written is bounded in bytes across all the
unit's date partitions together (``buffer_bytes``): past it, the partition holding most is written out as one
row group. So memory follows that bound and the page or batch size, never the volume nor the number of dates.

Where the files go, and how they become visible whole, is the storage's (cdr.lake.storage): local disk, or
object storage (``CDR_LAKE_URL=s3://...``) where the unit is committed by a manifest.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdr import config
from cdr.lake import objectstore
from cdr.lake.storage import Location, open_storage

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


# A unit is part of a file name: letters, digits and ``_ - . = + @``, not starting with a dot (no hidden file, no
# ``..``), so that no unit can name a file outside its source's folder or be read as a glob.
SAFE_UNIT = re.compile(r"[A-Za-z0-9_=+@-][A-Za-z0-9_.=+@-]*")


def check_unit(unit: str) -> str:
    if not SAFE_UNIT.fullmatch(unit) or ".." in unit:
        raise ValueError(
            f"{unit!r} is not a lake unit name (letters, digits, _ - . = + @; see cdr.lake.writer.safe_name)"
        )
    return unit


def safe_name(text: str, max_length: int = 48) -> str:
    """A unit name for any text (an operator's name for something, e.g. an Enigma list key): its letters and
    digits, other characters as ``-``, cut to ``max_length``, then ``-`` and 10 hex digits of its SHA-256. The
    same text always gives the same name, two texts two names (the hash tells apart those whose letters agree),
    and no text a path: ``../../x`` becomes ``x-<hash>``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:max_length].strip("-") or "x"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:10]}"


def unit_for_interval(start: datetime, end: datetime) -> str:
    """A file-name-safe, sortable name of a data interval."""
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.astimezone(UTC):{fmt}}_{end.astimezone(UTC):{fmt}}"


# Row groups of several thousand CDRs (about 6,000 KAZOO rows), which DuckDB reads well. Writing a row group
# takes several times its size in memory (the tables, their encoding, the compressed pages), and pyarrow's pool
# keeps what it freed for reuse: handing that back after each row group (``_flush``) is what keeps peak RSS flat
# with volume. Measured (bench/kazoo_pull.py, 200k and 1M CDRs): 144 and 146 MB with the release, 163 and 174
# MB without; 4 MiB bought no memory once the pool is released, 24 MiB cost 16 MB more and bought no speed.
DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024
# A row group is encoded, compressed and written on a thread of its own while the caller reads and converts the
# next pages (pyarrow releases the GIL while it writes): one group at a time, so memory holds at most one group
# being written beside the buffer. A KAZOO pull of long rows spent a quarter of its time in ``write_table``.
# Rows given one by one (``write``) wait as Python objects, whose size is not known, until this many are
# converted to columns at once; from then on they count in bytes like any table.
ROWS_PER_BATCH = 1024


@dataclass
class _Partition:
    temp: Path
    writer: pq.ParquetWriter
    tables: list[pa.Table] = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0
    rows: int = 0
    row_groups: int = 0


@dataclass
class WriteResult:
    files: list[Location]  # on object storage: s3:// URLs
    rows: int
    removed: list[Location]  # on object storage: the superseded version's files (deleted after a grace period)


class LakeWriter:
    """Streams one unit's rows into date partitions; ``commit`` makes them visible all at once per file."""

    def __init__(
        self,
        source: str,
        schema: pa.Schema,
        unit: str,
        *,
        lake_root: Path | str | None = None,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ):
        self.source = source
        self.schema = schema
        self.unit = check_unit(unit)
        self.storage = open_storage(lake_root)
        self._files = self.storage.unit(source, self.key)
        self.buffer_bytes = buffer_bytes
        self._partitions: dict[date, _Partition] = {}
        self._pending: list[tuple[dict[str, Any], date]] = []
        self._buffered = 0
        self.peak_buffered = 0  # the most bytes ever held at once, for tests and benchmarks
        self._closed = False
        self._group_writer: ThreadPoolExecutor | None = None
        self._writing: Future | None = None

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._closed:
                self.commit()
        else:
            self.abort()

    @property
    def key(self) -> str:
        return f"{self.source}__{self.unit}"

    def _partition(self, day: date) -> _Partition:
        part = self._partitions.get(day)
        if part is None:
            temp = self._files.stage(day)
            # Dictionary encoding only pays where values repeat; _raw never does. Nor do its min and max (JSON
            # text) prune any read: computing them was a third of the time of writing an Enigma batch.
            typed = [name for name in self.schema.names if name != "_raw"]
            try:
                writer = pq.ParquetWriter(
                    temp, self.schema, compression="zstd", use_dictionary=typed, write_statistics=typed
                )
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            part = self._partitions[day] = _Partition(temp, writer)
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

    def write_days(self, table: pa.Table, days: list[date] | pa.Array) -> None:
        """Rows in columns, row i for the partition of ``days[i]`` (a list of dates, or a date32 array)."""
        if len(days) != table.num_rows:
            raise ValueError(f"{table.num_rows} rows but {len(days)} days")
        self._convert_pending()
        if isinstance(days, pa.Array | pa.ChunkedArray):
            self._write_day_array(table, days)
        else:
            self._write_days(table, days)

    def _write_day_array(self, table: pa.Table, days: pa.Array | pa.ChunkedArray) -> None:
        if not len(days):
            return
        if days.null_count:
            raise ValueError(f"{self.source}: {days.null_count} rows have no date partition")
        first, last = (value.as_py() for value in pc.min_max(days).values())
        if first == last:
            self._buffer(table, first)
            return
        for day in pc.unique(days).to_pylist():  # in order of first appearance, as _write_days
            self._buffer(table.filter(pc.equal(days, pa.scalar(day, pa.date32()))), day)

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
        self._written()  # one group at a time: the one before this is on disk (or its error raised here)
        if self._group_writer is None:
            self._group_writer = ThreadPoolExecutor(1, thread_name_prefix=f"lake-{self.source}")
        self._writing = self._group_writer.submit(_write_group, part.writer, table)
        part.rows += table.num_rows
        part.row_groups += 1
        self._buffered -= part.buffered_bytes
        part.tables, part.buffered_rows, part.buffered_bytes = [], 0, 0

    def _written(self) -> None:
        """Wait for the row group being written, if any; its error is raised here."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _stop_writing(self) -> None:
        if self._group_writer is not None:
            self._group_writer.shutdown(wait=True)
            self._group_writer = None

    def commit(self) -> WriteResult:
        """Publish every partition file, then remove files an earlier run of this unit left in other dates."""
        self._closed = True
        self._convert_pending()
        rows = 0
        try:
            for part in self._partitions.values():
                self._flush(part)
            self._written()
            for part in self._partitions.values():
                part.writer.close()
                rows += part.rows
        except BaseException:
            self._stop_writing()  # no row group is being written into the files abort removes
            self._files.abort()
            raise
        finally:
            self._stop_writing()
        files, removed = self._files.commit(rows)
        self.storage.schema_file(self.source, self.schema)
        return WriteResult(files=files, rows=rows, removed=removed)

    def abort(self) -> None:
        self._closed = True
        self._pending.clear()
        try:
            try:
                self._written()
            except Exception as exc:  # the error that made us abort is the one to raise; this one is only told
                log.warning(
                    "%s: the row group being written when unit %s was abandoned failed too: %s",
                    self.source,
                    self.unit,
                    exc,
                )
            finally:
                self._stop_writing()
        finally:
            try:
                for part in self._partitions.values():
                    part.writer.close()
            finally:
                self._files.abort()


def _write_group(writer: pq.ParquetWriter, table: pa.Table) -> None:
    writer.write_table(table, row_group_size=max(table.num_rows, 1))
    del table
    pa.default_memory_pool().release_unused()


def ensure_schema_file(source: str, schema: pa.Schema, lake_root: Path | str | None = None) -> Location:
    """A zero-row file with the source's columns, so its dbt source reads (as empty) before any data lands.
    On object storage it is one PUT (atomic) and the return value is its ``s3://`` URL."""
    return open_storage(lake_root).schema_file(source, schema)


def sweep_temporaries(source: str, lake_root: Path | str | None = None) -> int:
    """Remove the hidden temporaries a killed writer of ``source`` left. Call only while no other writer of
    the source can run (the Enigma drain holds its lease). On object storage: the files of killed or superseded
    attempts, once past the grace period (cdr.lake.objectstore.vacuum)."""
    return open_storage(lake_root).sweep(source)


def read_paths(source: str, days: Iterable[date] | None = None, lake_root: Path | str | None = None) -> list[str]:
    """The files of ``source`` a reader sees (of the ``date=`` partitions of ``days``, or all), as paths a DuckDB
    connection from ``duckdb_connect`` reads: local paths, or ``cdrlake://`` URLs of the live files."""
    return open_storage(lake_root).live_files(source, days)


def readable(path: Location) -> str:
    """A path ``ensure_schema_file`` or ``WriteResult`` gave, as a ``duckdb_connect`` connection reads it."""
    return open_storage().readable(path)


def duckdb_connect():
    """A DuckDB connection that reads the lake wherever it lives (the live files of an object-storage lake)."""
    import duckdb

    con = duckdb.connect()
    if config.lake_on_object_store():
        objectstore.register(con)
    return con


def replace_file(folder: str, key: str, table: pa.Table, lake_root: Path | str | None = None) -> Location:
    """Replace the single file ``<folder>/<key>.parquet`` whole (a list a pull replaces each time): on disk by
    rename, on object storage by a manifest, so a reader sees the old table or the new one."""
    check_unit(key)
    return open_storage(lake_root).replace_file(
        folder, key, lambda path: pq.write_table(table, path, compression="zstd"), table.num_rows
    )
