"""A DuckDB file written whole and then published: readers see the old file or the complete new one.

The file is filled on a temporary sibling, checkpointed, closed and renamed over the target (cdr.fsutil.publish):
an analyst who holds the old file open keeps reading it, and nobody ever opens a half-written one. Written in
DuckDB's v1.0 storage format, so every DuckDB from 1.0 on reads it, whichever release an analyst's tool bundles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cdr.fsutil import publish, temp_path_for

STORAGE_VERSION = "v1.0.0"


@contextmanager
def new_database(target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the database that will replace ``target`` once the block ends without an error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(target)
    try:
        con = duckdb.connect(str(temp), config={"storage_compatibility_version": STORAGE_VERSION})
        try:
            yield con
            con.execute("checkpoint")
        finally:
            con.close()
        publish(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        Path(f"{temp}.wal").unlink(missing_ok=True)
