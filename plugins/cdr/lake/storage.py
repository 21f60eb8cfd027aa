"""Where the lake's files live, behind one small interface: a folder on local disk, or a prefix on object storage.

Everything the pipeline keeps is written through a ``Storage``: a unit's date-partitioned files (``unit``: staged,
then committed all at once, replacing what an earlier run of the unit wrote), a single file replaced whole
(``replace_file``), a source's zero-row schema file (``schema_file``), one whole object (``put``, for
quarantine). Readers ask it for the live files (``live_files``) as DuckDB reads them (``readable``); ``sweep``
removes what killed writers left. ``open_storage`` is the one place that tells local from object storage.

On local disk a file is written to a hidden temporary beside its final name (0640 before a byte is written),
fsynced and renamed into place. On object storage each partition is spooled to a local file, uploaded under a
name tagged with the attempt, and the unit is committed by a manifest (cdr.lake.objectstore): readers see the
unit's previous complete version until the manifest is put, then the new one; never a part of either.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from cdr import config
from cdr.access import FILE_MODE, create_file, ensure_dir, touch
from cdr.fsutil import fsync_dir, publish, temp_path_for
from cdr.lake import objectstore

log = logging.getLogger(__name__)

# A location the storage gave: a local path, or an ``s3://`` URL.
Location = Path | str


class UnitFiles(Protocol):
    """The files one unit of a folder writes: one per date partition, staged locally until ``commit``."""

    def stage(self, day: date) -> Path:
        """A new local file, private to this unit, to write the partition of ``day`` into."""
        ...

    def commit(self, rows: int) -> tuple[list[Location], list[Location]]:
        """Make every staged file visible at once per file, in place of what an earlier run of the unit wrote in
        any date; returns the files written and those they superseded."""
        ...

    def abort(self) -> None:
        """Drop every staged file; what readers see is unchanged."""
        ...


class Storage(Protocol):
    def unit(self, folder: str, key: str) -> UnitFiles: ...

    def replace_file(self, folder: str, key: str, write: Callable[[Path], None], rows: int) -> Location:
        """``<folder>/<key>.parquet`` replaced whole by what ``write`` writes into the local path it is given."""
        ...

    def schema_file(self, folder: str, schema: pa.Schema) -> Location:
        """A zero-row file with ``schema`` in ``folder``, written only when it is missing or differs."""
        ...

    def put(self, relative: str, data: bytes) -> Location:
        """One file, whole or absent, at ``relative`` (``a/b/name``) under the root."""
        ...

    def sizes(self, folder: str, suffix: str) -> list[int]:
        """The sizes of the files directly or deeper in ``folder`` whose names end with ``suffix``."""
        ...

    def live_files(self, folder: str, days: Iterable[date] | None = None) -> list[str]:
        """The Parquet files readers see (of the ``date=`` partitions of ``days``, or all), as DuckDB reads them."""
        ...

    def readable(self, location: Location) -> str:
        """A location this storage gave, as a ``duckdb_connect`` connection reads it."""
        ...

    def sweep(self, folder: str) -> int:
        """Remove what killed writers of ``folder`` left; only while no other writer of it can run."""
        ...


def _schema_matches(read: Callable[[], pa.Schema], schema: pa.Schema) -> bool:
    try:
        return read().equals(schema, check_metadata=False)
    except FileNotFoundError:
        return False


def _write_empty(schema: pa.Schema) -> Callable[[Path], None]:
    return lambda path: pq.write_table(schema.empty_table(), path)


class LocalStorage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def unit(self, folder: str, key: str) -> LocalUnit:
        return LocalUnit(self.root / folder, key)

    def _replace(self, final: Path, write: Callable[[Path], None]) -> Path:
        ensure_dir(final.parent)
        # made 0640 in the lake's group before the writer opens it (pyarrow keeps the mode of the file it opens)
        temp = touch(temp_path_for(final))
        try:
            write(temp)
            publish(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return final

    def replace_file(self, folder: str, key: str, write: Callable[[Path], None], rows: int) -> Path:
        return self._replace(self.root / folder / f"{key}.parquet", write)

    def schema_file(self, folder: str, schema: pa.Schema) -> Path:
        path = self.root / folder / "_schema.parquet"
        if _schema_matches(lambda: pq.read_schema(path), schema):
            return path
        return self._replace(path, _write_empty(schema))

    def put(self, relative: str, data: bytes) -> Path:
        final = self.root / relative
        ensure_dir(final.parent)
        temp = temp_path_for(final)
        try:
            with open(create_file(temp, FILE_MODE), "wb") as fh:
                fh.write(data)
            publish(temp, final)
        finally:
            temp.unlink(missing_ok=True)
        return final

    def sizes(self, folder: str, suffix: str) -> list[int]:
        base = self.root / folder
        return [p.stat().st_size for p in base.rglob(f"*{suffix}")] if base.is_dir() else []

    def live_files(self, folder: str, days: Iterable[date] | None = None) -> list[str]:
        base = self.root / folder
        if days is None:
            return sorted(str(p) for p in base.rglob("date=*/*.parquet"))
        return [str(p) for day in days for p in sorted((base / f"date={day.isoformat()}").glob("*.parquet"))]

    def readable(self, location: Location) -> str:
        return str(location)

    def sweep(self, folder: str) -> int:
        removed = 0
        for temp in (self.root / folder).rglob(".*.tmp"):
            temp.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("%s: removed %d temporaries left by a killed run", folder, removed)
        return removed


class LocalUnit:
    def __init__(self, folder: Path, key: str):
        self.folder, self.key = folder, key
        self._staged: dict[date, tuple[Path, Path]] = {}

    def stage(self, day: date) -> Path:
        final = self.folder / f"date={day.isoformat()}" / f"{self.key}.parquet"
        ensure_dir(final.parent)
        temp = touch(temp_path_for(final))
        self._staged[day] = (temp, final)
        return temp

    def commit(self, rows: int) -> tuple[list[Location], list[Location]]:
        files: list[Location] = []
        for temp, final in self._staged.values():
            publish(temp, final)
            files.append(final)
            log.info("%s: wrote %s", self.folder.name, final)
        removed: list[Location] = []
        for stale in self.folder.glob(f"date=*/{self.key}.parquet"):
            if stale not in files:
                stale.unlink()
                fsync_dir(stale.parent)
                removed.append(stale)
                log.info("%s: removed %s, which an earlier run of %s wrote", self.folder.name, stale, self.key)
        return files, removed

    def abort(self) -> None:
        for temp, _ in self._staged.values():
            temp.unlink(missing_ok=True)


class ObjectStorage:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.base = self.url[len(objectstore.SCHEME) :]

    @functools.cached_property
    def fs(self):
        """Made on first use: naming a location readable needs no connection."""
        return objectstore.filesystem()

    def unit(self, folder: str, key: str) -> ObjectUnit:
        return ObjectUnit(self.fs, f"{self.base}/{folder}", key)

    def replace_file(self, folder: str, key: str, write: Callable[[Path], None], rows: int) -> str:
        base = f"{self.base}/{folder}"
        attempt = objectstore.new_attempt()
        with tempfile.TemporaryDirectory(prefix=f"cdr-lake-{folder}-") as spool:
            local = Path(spool) / "file.parquet"
            write(local)
            target = f"{base}/{objectstore.tagged_name(key, attempt)}"
            objectstore.commit_unit(self.fs, base, key, attempt, [(str(local), target)], rows)
        return objectstore.SCHEME + target

    def schema_file(self, folder: str, schema: pa.Schema) -> str:
        path = f"{self.base}/{folder}/_schema.parquet"

        def read() -> pa.Schema:
            with self.fs.open(path, "rb") as fh:
                return pq.read_schema(fh)

        if not _schema_matches(read, schema):
            sink = pa.BufferOutputStream()
            pq.write_table(schema.empty_table(), sink)
            objectstore.put_bytes(self.fs, path, sink.getvalue().to_pybytes())
        return objectstore.SCHEME + path

    def put(self, relative: str, data: bytes) -> str:
        objectstore.put_bytes(self.fs, f"{self.base}/{relative}", data)
        return f"{self.url}/{relative}"

    def sizes(self, folder: str, suffix: str) -> list[int]:
        try:
            found = self.fs.find(f"{self.base}/{folder}", detail=True)
        except FileNotFoundError:
            return []
        return [info.get("size", 0) for path, info in found.items() if path.endswith(suffix)]

    def live_files(self, folder: str, days: Iterable[date] | None = None) -> list[str]:
        base = f"{self.base}/{folder}"
        folders = [f"{base}/date={day.isoformat()}" for day in days] if days is not None else [base]

        def listing() -> list[str]:
            found: list[str] = []
            for where in folders:
                try:
                    found += [p for p in self.fs.find(where) if p.endswith(".parquet")]
                except FileNotFoundError:
                    continue
            return sorted(found)

        live = objectstore.live_listing(self.fs, listing, base, whole=days is None)
        return [f"{objectstore.READ_PROTOCOL}://{path}" for path in live if not path.endswith("/_schema.parquet")]

    def readable(self, location: Location) -> str:
        return objectstore.read_url(str(location))

    def sweep(self, folder: str) -> int:
        return objectstore.vacuum(self.fs, f"{self.base}/{folder}")


class ObjectUnit:
    def __init__(self, fs, base: str, key: str):
        self.fs, self.base, self.key = fs, base, key
        self.attempt = objectstore.new_attempt()
        self._spool = Path(tempfile.mkdtemp(prefix="cdr-lake-"))
        self._staged: dict[date, tuple[Path, str]] = {}

    def stage(self, day: date) -> Path:
        target = f"{self.base}/date={day.isoformat()}/{objectstore.tagged_name(self.key, self.attempt)}"
        local = self._spool / f"{day.isoformat()}.parquet"
        self._staged[day] = (local, target)
        return local

    def commit(self, rows: int) -> tuple[list[Location], list[Location]]:
        uploads = [(str(local), target) for local, target in self._staged.values()]
        try:
            superseded = objectstore.commit_unit(self.fs, self.base, self.key, self.attempt, uploads, rows)
        finally:
            shutil.rmtree(self._spool, ignore_errors=True)
        targets = {target for _, target in uploads}
        files: list[Location] = [objectstore.SCHEME + target for _, target in uploads]
        removed: list[Location] = [objectstore.SCHEME + path for path in superseded if path not in targets]
        log.info("%s: committed %d rows in %d files (attempt %s)", self.key, rows, len(files), self.attempt)
        for path in removed:
            log.info("%s: superseded %s, which an earlier run wrote", self.key, path)
        return files, removed

    def abort(self) -> None:
        shutil.rmtree(self._spool, ignore_errors=True)


def open_storage(root: Path | str | None = None) -> Storage:
    """The storage at ``root``: a local folder, or an ``s3://bucket/prefix`` URL; by default the lake's
    (``CDR_LAKE_URL``, else ``<CDR_DATA_DIR>/lake``)."""
    where = config.lake_url() if root is None else root
    if objectstore.is_object_url(where):
        return ObjectStorage(str(where))
    return LocalStorage(Path(where))


def quarantine_storage() -> Storage:
    """quarantine/ under the data directory; on an object-storage lake, ``<CDR_LAKE_URL>/_quarantine``, so that
    what any worker or receiver host set aside is in one place."""
    if config.lake_on_object_store():
        return open_storage(f"{config.lake_url()}/{objectstore.QUARANTINE}")
    return open_storage(config.quarantine_dir())
