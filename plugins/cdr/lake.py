"""The raw Parquet lake: lake/<source>/date=YYYY-MM-DD/<source>__<unit>.parquet.

A *unit* is what one task run owns: a pull interval, or a drained batch. Its files are written to hidden
temporary names, fsynced and renamed into place, and replace whatever an earlier run of the same unit wrote,
so re-runs and back-fills never duplicate. Rows are buffered per date partition only up to one row group,
so memory follows the page or batch size, never the volume.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
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
    return f"{start.astimezone(timezone.utc):{fmt}}_{end.astimezone(timezone.utc):{fmt}}"


@dataclass
class _Partition:
    final: Path
    temp: Path
    writer: pq.ParquetWriter
    buffer: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0


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
        rows_per_group: int = 50_000,
    ):
        self.source = source
        self.schema = schema
        self.unit = unit
        self.root = (lake_root or config.lake_dir()) / source
        self.rows_per_group = rows_per_group
        self._partitions: dict[date, _Partition] = {}
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
            dictionary = [name for name in self.schema.names if name not in ("_raw", "message_md5")]
            writer = pq.ParquetWriter(temp, self.schema, compression="zstd", use_dictionary=dictionary)
            part = self._partitions[day] = _Partition(final, temp, writer)
        return part

    def write(self, row: dict[str, Any], day: date) -> None:
        part = self._partition(day)
        part.buffer.append(row)
        if len(part.buffer) >= self.rows_per_group:
            self._flush(part)

    def write_table(self, table: pa.Table, day: date) -> None:
        """A whole batch already in columns (the drains' path): written as it is, no row buffering."""
        part = self._partition(day)
        self._flush(part)
        part.writer.write_table(table)
        part.rows += table.num_rows

    def _flush(self, part: _Partition) -> None:
        if part.buffer:
            part.writer.write_table(pa.Table.from_pylist(part.buffer, schema=self.schema))
            part.rows += len(part.buffer)
            part.buffer.clear()

    def commit(self) -> WriteResult:
        """Publish every partition file, then remove files an earlier run of this unit left in other dates."""
        self._closed = True
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
