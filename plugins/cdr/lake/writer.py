"""The raw Parquet lake: lake/<source>/date=YYYY-MM-DD/<source>__<unit>.parquet.

A *unit* is what one task run owns: a pull interval, or a drained batch. Its files are written to hidden
temporary names, fsynced and renamed into place, and replace whatever an earlier run of the same unit wrote,
so re-runs and back-fills never duplicate. What waits to be written is bounded in bytes across all the
unit's date partitions together (``buffer_bytes``): past it, the partition holding most is written out as one
row group. So memory follows that bound and the page or batch size, never the volume nor the number of dates.

With the lake on object storage (``CDR_LAKE_URL=s3://...``) the same writer spools each partition to a local
temporary file and commits the unit by a manifest (cdr.lake.objectstore): readers see the unit's previous complete
version until the manifest is put, then the new one; never a part of either.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cdr import config
from cdr.access import ensure_dir, touch
from cdr.fsutil import fsync_dir, publish, temp_path_for
from cdr.lake import objectstore

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
# Rows given one by one (``write``) wait as Python objects, whose size is not known, until this many are
# converted to columns at once; from then on they count in bytes like any table.
ROWS_PER_BATCH = 1024


def resolve_root(root: Path | str | None = None) -> Path | str:
    """The lake's root: a local folder (Path), or an ``s3://bucket/prefix`` URL (str)."""
    if root is None:
        url = config.lake_url()
        return url if objectstore.is_object_url(url) else Path(url)
    return root if objectstore.is_object_url(root) else Path(root)


def _bucket_path(url: str) -> str:
    return url[len(objectstore.SCHEME) :].rstrip("/")


@dataclass
class _Partition:
    final: Path | str
    temp: Path
    writer: pq.ParquetWriter
    tables: list[pa.Table] = field(default_factory=list)
    buffered_rows: int = 0
    buffered_bytes: int = 0
    rows: int = 0
    row_groups: int = 0


@dataclass
class WriteResult:
    files: list[Path | str]  # on object storage: s3:// URLs
    rows: int
    removed: list[Path | str]  # on object storage: the superseded version's files (deleted after a grace period)


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
        self.lake = resolve_root(lake_root)
        self.remote = isinstance(self.lake, str)
        if self.remote:
            self.fs = objectstore.filesystem()
            self.root = f"{_bucket_path(self.lake)}/{source}"
            self.attempt = objectstore.new_attempt()
            self._spool = Path(tempfile.mkdtemp(prefix=f"cdr-lake-{source}-"))
        else:
            self.root = self.lake / source
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

    @property
    def key(self) -> str:
        return f"{self.source}__{self.unit}"

    def file_for(self, day: date) -> Path | str:
        if self.remote:
            return f"{self.root}/date={day.isoformat()}/{objectstore.tagged_name(self.key, self.attempt)}"
        return self.root / f"date={day.isoformat()}" / f"{self.key}.parquet"

    def _partition(self, day: date) -> _Partition:
        part = self._partitions.get(day)
        if part is None:
            final = self.file_for(day)
            if self.remote:
                temp = self._spool / f"{day.isoformat()}.parquet"
            else:
                ensure_dir(final.parent)
                # made 0640 in the lake's group before pyarrow opens it (it keeps the mode of the file it opens)
                temp = touch(temp_path_for(final))
            # Dictionary encoding only pays where values repeat; _raw never does.
            dictionary = [name for name in self.schema.names if name != "_raw"]
            try:
                writer = pq.ParquetWriter(temp, self.schema, compression="zstd", use_dictionary=dictionary)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
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
        part.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        pa.default_memory_pool().release_unused()
        part.rows += table.num_rows
        part.row_groups += 1
        self._buffered -= part.buffered_bytes
        part.tables, part.buffered_rows, part.buffered_bytes = [], 0, 0

    def commit(self) -> WriteResult:
        """Publish every partition file, then remove files an earlier run of this unit left in other dates."""
        self._closed = True
        self._convert_pending()
        if self.remote:
            return self._commit_remote()
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

    def _commit_remote(self) -> WriteResult:
        rows = 0
        try:
            for part in self._partitions.values():
                self._flush(part)
                part.writer.close()
                rows += part.rows
            uploads = [(str(part.temp), part.final) for part in self._partitions.values()]
            superseded = objectstore.commit_unit(self.fs, self.root, self.key, self.attempt, uploads, rows)
        finally:
            shutil.rmtree(self._spool, ignore_errors=True)
        files = [objectstore.SCHEME + target for _, target in uploads]
        removed = [objectstore.SCHEME + path for path in superseded if path not in {t for _, t in uploads}]
        ensure_schema_file(self.source, self.schema, self.lake)
        log.info(
            "%s: committed %s (%d rows in %d files, attempt %s)", self.source, self.key, rows, len(files), self.attempt
        )
        for path in removed:
            log.info("%s: superseded %s, which an earlier run of %s wrote", self.source, path, self.unit)
        return WriteResult(files=files, rows=rows, removed=removed)

    def abort(self) -> None:
        self._closed = True
        self._pending.clear()
        try:
            for part in self._partitions.values():
                try:
                    part.writer.close()
                finally:
                    Path(part.temp).unlink(missing_ok=True)
        finally:
            if self.remote:
                shutil.rmtree(self._spool, ignore_errors=True)


def ensure_schema_file(source: str, schema: pa.Schema, lake_root: Path | str | None = None) -> Path | str:
    """A zero-row file with the source's columns, so its dbt source reads (as empty) before any data lands.
    On object storage it is one PUT (atomic) and the return value is its ``s3://`` URL."""
    root = resolve_root(lake_root)
    if isinstance(root, str):
        fs = objectstore.filesystem()
        path = f"{_bucket_path(root)}/{source}/_schema.parquet"
        if fs.exists(path):
            with fs.open(path, "rb") as fh:
                if pq.read_schema(fh).equals(schema, check_metadata=False):
                    return objectstore.SCHEME + path
        sink = pa.BufferOutputStream()
        pq.write_table(schema.empty_table(), sink)
        objectstore.put_bytes(fs, path, sink.getvalue().to_pybytes())
        return objectstore.SCHEME + path
    folder = root / source
    path = folder / "_schema.parquet"
    if path.exists() and pq.read_schema(path).equals(schema, check_metadata=False):
        return path
    ensure_dir(folder)
    temp = touch(temp_path_for(path))
    try:
        pq.write_table(schema.empty_table(), temp)
        publish(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def sweep_temporaries(source: str, lake_root: Path | str | None = None) -> int:
    """Remove the hidden temporaries a killed writer of ``source`` left. Call only while no other writer of
    the source can run (the Enigma drain holds its lease). On object storage: the files of killed or superseded
    attempts, once past the grace period (cdr.lake.objectstore.vacuum)."""
    root = resolve_root(lake_root)
    if isinstance(root, str):
        return objectstore.vacuum(objectstore.filesystem(), f"{_bucket_path(root)}/{source}")
    removed = 0
    for temp in (root / source).rglob(".*.tmp"):
        temp.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("%s: removed %d temporaries left by a killed run", source, removed)
    return removed


def read_paths(source: str, days: Iterable[date] | None = None, lake_root: Path | str | None = None) -> list[str]:
    """The files of ``source`` a reader sees (of the ``date=`` partitions of ``days``, or all), as paths a DuckDB
    connection from ``duckdb_connect`` reads: local paths, or ``cdrlake://`` URLs of the live files."""
    root = resolve_root(lake_root)
    if isinstance(root, str):
        fs = objectstore.filesystem()
        base = f"{_bucket_path(root)}/{source}"

        def listing() -> list[str]:
            found: list[str] = []
            for folder in [f"{base}/date={day.isoformat()}" for day in days] if days is not None else [base]:
                try:
                    found += [p for p in fs.find(folder) if p.endswith(".parquet")]
                except FileNotFoundError:
                    continue
            return sorted(found)

        live = objectstore.live_listing(fs, listing, base, whole=days is None)
        return [f"{objectstore.READ_PROTOCOL}://{path}" for path in live if not path.endswith("/_schema.parquet")]
    if days is None:
        return sorted(str(p) for p in (root / source).rglob("date=*/*.parquet"))
    return [str(p) for day in days for p in sorted((root / source / f"date={day.isoformat()}").glob("*.parquet"))]


def readable(path: Path | str) -> str:
    """A path ``ensure_schema_file`` or ``WriteResult`` gave, as a ``duckdb_connect`` connection reads it."""
    return objectstore.read_url(path) if isinstance(path, str) else str(path)


def duckdb_connect():
    """A DuckDB connection that reads the lake wherever it lives (the live files of an object-storage lake)."""
    import duckdb

    con = duckdb.connect()
    if config.lake_on_object_store():
        objectstore.register(con)
    return con


def replace_file(folder: str, key: str, table: pa.Table, lake_root: Path | str | None = None) -> Path | str:
    """Replace the single file ``<folder>/<key>.parquet`` whole (a list a pull replaces each time): on disk by
    rename, on object storage by a manifest, so a reader sees the old table or the new one."""
    check_unit(key)
    root = resolve_root(lake_root)
    if isinstance(root, str):
        fs = objectstore.filesystem()
        base = f"{_bucket_path(root)}/{folder}"
        attempt = objectstore.new_attempt()
        with tempfile.TemporaryDirectory(prefix=f"cdr-lake-{folder}-") as spool:
            local = Path(spool) / "file.parquet"
            pq.write_table(table, local, compression="zstd")
            target = f"{base}/{objectstore.tagged_name(key, attempt)}"
            objectstore.commit_unit(fs, base, key, attempt, [(str(local), target)], table.num_rows)
        return objectstore.SCHEME + target
    final = root / folder / f"{key}.parquet"
    ensure_dir(final.parent)
    temp = temp_path_for(final)
    try:
        pq.write_table(table, touch(temp), compression="zstd")
        publish(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final
