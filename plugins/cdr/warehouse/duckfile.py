"""A DuckDB file published whole: readers see the old file or the complete new one, never a half-written one.

``new_database`` fills a temporary sibling from nothing, checkpoints, closes and renames it over the target
(cdr.fsutil.publish). ``updated_database`` does the same with a file that already holds an earlier publish of the
target, so that a caller can apply only what changed: the cost of a publish then follows the change, not the
size of the file.

How ``updated_database`` keeps the promises. The target's published files live in two slots, ``a`` and ``b``, in
the hidden directory ``.<target name>.slots`` beside it; the target is a hard link to the live slot. A publish
writes the *other* slot, the spare, and then renames a fresh hard link to it over the target, atomically:

- nobody can open the spare while it is written: the target's name leads to the live slot, and a reader who still
  holds the spare from an earlier publish (it was live then) is detected: DuckDB's read-only connections hold a
  shared lock on the file, so opening it for writing fails, and the process's own descriptors are looked at too.
  A held spare is never written: it is unlinked (its reader keeps reading it) and a new spare is made by copying
  the live file byte for byte, which costs the file's size in bytes but not a rebuild;
- a slot is reused only if it is exactly the file recorded when it was published (inode, size, modification
  time) and its record says what it holds; a crash while a spare is written leaves it unrecorded, so it is
  rebuilt, and the target still names the complete old file;
- the analyst's old file is never changed: a reader holds an inode, and only the inode nobody holds is written;
- a publish that filled its file whole (a full build) also byte-copies it into the other slot, so that the next
  publish finds a spare of its lineage and applies only the change: the copy is paid by the full cycle, not by the
  first incremental one.

Every file is written in DuckDB's v1.0 storage format, so every DuckDB from 1.0 on reads it, whichever release an
analyst's tool bundles.

Who may read it (cdr.access): a new file takes the mode and group of the one it replaces, so an operator's chmod or
chgrp of the target outlives every publish (a file that holds numbers never gives others any access); the first one
is 0640 in the caller's group. DuckDB makes its files with the umask's mode: they are written in the hidden slots
folder (0750) or beside the target, and given their mode before they are linked or renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from cdr import access
from cdr.fsutil import fsync_dir, fsync_file, publish, temp_path_for

log = logging.getLogger(__name__)

STORAGE_VERSION = "v1.0.0"
SLOTS = ("a", "b")


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})


@contextmanager
def new_database(
    target: Path, *, group: int | None = None, holds_numbers: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the database that will replace ``target`` once the block ends without an error; it gets
    the mode and group of ``target`` (cdr.access.like), else 0640 and ``group``."""
    access.ensure_dir(target.parent)
    temp = temp_path_for(target)
    try:
        with access.private_umask():
            con = _connect(temp)
        try:
            yield con
            con.execute("checkpoint")
        finally:
            con.close()
        access.give(temp, *access.like(target, holds_numbers=holds_numbers, group=group))
        publish(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        Path(f"{temp}.wal").unlink(missing_ok=True)
    # the slots no longer hold what the target is: a later update starts from this file
    _forget_slots(target)


def slots_dir(target: Path) -> Path:
    return target.parent / f".{target.name}.slots"


def _read_state(target: Path) -> dict:
    try:
        return json.loads((slots_dir(target) / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_state(target: Path, state: dict) -> None:
    from cdr.fsutil import atomic_write_bytes

    atomic_write_bytes(slots_dir(target) / "state.json", json.dumps(state, default=str).encode())


def _forget_slots(target: Path) -> None:
    if slots_dir(target).exists():
        _write_state(target, {})


def _stamp(path: Path) -> dict:
    st = os.stat(path)
    return {"ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _intact(path: Path, record: dict | None) -> bool:
    """``path`` is the very file recorded when it was published, unchanged since."""
    if not record:
        return False
    try:
        stamp = _stamp(path)
    except FileNotFoundError:
        return False
    return all(stamp[k] == record.get(k) for k in stamp) and not Path(f"{path}.wal").exists()


def _held_by_this_process(path: Path) -> bool:
    """POSIX locks do not conflict within one process: look for a descriptor of the file among our own."""
    try:
        st = os.stat(path)
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            other = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (other.st_ino, other.st_dev) == (st.st_ino, st.st_dev):
            return True
    return False


def _open_unheld(path: Path) -> duckdb.DuckDBPyConnection | None:
    """A writing connection to ``path``, or None when a reader holds it (a writer cannot lock it then)."""
    if _held_by_this_process(path):
        return None
    try:
        return _connect(path)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            return None
        raise


def _replace_with(source: Path | None, spare: Path) -> None:
    """Put a private file at ``spare``: a byte copy of ``source``, or nothing (DuckDB makes an empty database). A
    reader who held the old spare keeps its inode."""
    if source is None:
        spare.unlink(missing_ok=True)
    else:
        temp = temp_path_for(spare)
        try:
            shutil.copyfile(source, temp)
            os.replace(temp, spare)
        finally:
            temp.unlink(missing_ok=True)
    Path(f"{spare}.wal").unlink(missing_ok=True)


@contextmanager
def updated_database(
    target: Path,
    meta: dict,
    accept: Callable[[dict], bool] = lambda held: False,
    *,
    group: int | None = None,
    holds_numbers: bool = True,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict | None]]:
    """``(con, held)``: a writing connection to the database that will replace ``target`` once the block ends
    without an error, and the ``meta`` it was published with if it already holds an earlier publish of the target
    that ``accept`` accepts (apply the change since then), else None (an empty database: fill it whole). ``meta``
    is recorded with the new file for the next publish. The new file gets the mode and group of ``target``
    (cdr.access.like: less others' access if it ``holds_numbers``), else 0640 and ``group``."""
    access.ensure_dir(target.parent)
    slots = slots_dir(target)
    access.ensure_dir(slots)
    # the spare is written here with the umask's mode: nobody but the group may reach it, whatever made the folder
    access.set_access(slots, access.DIR_MODE)
    state = _read_state(target)
    records = dict(state.get("slots", {}))
    live = state.get("live") if state.get("live") in SLOTS else None
    spare_name = "b" if live == "a" else "a"
    spare = slots / spare_name
    live_ok = (
        live is not None
        and _intact(slots / live, records.get(live))
        and _stamp(slots / live)["ino"] == _stamp(target)["ino"]
        if target.exists()
        else False
    )

    # From here on the spare is not what any record says: a crash leaves it untrusted.
    records.pop(spare_name, None)
    _write_state(target, {"live": live if live_ok else None, "slots": records if live_ok else {}})

    con, held = None, None
    spare_record = (state.get("slots", {}) or {}).get(spare_name)
    if spare_record is not None and _intact(spare, spare_record) and accept(spare_record.get("meta", {})):
        con = _open_unheld(spare)
        if con is not None:
            held = spare_record["meta"]
        else:
            log.info("%s: a reader still holds the spare copy; copying the live one instead", target.name)
    if con is None and live is not None and live_ok and accept(records[live].get("meta", {})):
        _replace_with(slots / live, spare)
        con, held = _connect(spare), records[live]["meta"]
    if con is None:
        _replace_with(None, spare)
        with access.private_umask():
            con = _connect(spare)
    try:
        yield con, held
        con.execute("checkpoint")
    except BaseException:
        con.close()
        spare.unlink(missing_ok=True)
        Path(f"{spare}.wal").unlink(missing_ok=True)
        raise
    con.close()
    # what the target has now (an operator's chmod, chgrp) is what the new file gets
    mode, gid = access.like(target, holds_numbers=holds_numbers, group=group)
    access.give(spare, mode, gid)
    fsync_file(spare)
    fsync_dir(slots)
    # The target becomes a second name of the spare: a fresh link renamed over it, atomically.
    link = temp_path_for(target)
    try:
        os.link(spare, link)
        os.replace(link, target)
    finally:
        link.unlink(missing_ok=True)
    fsync_dir(target.parent)
    records = {name: record for name, record in records.items() if live_ok and name == live}
    records[spare_name] = {**_stamp(spare), "meta": meta}
    _write_state(target, {"live": spare_name, "slots": records})
    if held is None:
        # Filled whole (a full build): the other slot holds an older lineage, so the next publish would have to
        # byte-copy this file before it could apply a change. Copy it now, as part of the full publish, so that
        # every publish after it costs only what changed. A reader of the old file keeps its inode.
        other = "a" if spare_name == "b" else "b"
        _replace_with(spare, slots / other)
        access.give(slots / other, mode, gid)
        fsync_dir(slots)
        records[other] = {**_stamp(slots / other), "meta": meta}
        _write_state(target, {"live": spare_name, "slots": records})


def sql_string(text: str | os.PathLike) -> str:
    """``text`` as a SQL string literal, for statements DuckDB takes no parameters in (ATTACH, LOAD, CREATE SECRET,
    COMMENT ON, a macro's body). The one way a path, URL, name or setting is written into SQL here: whatever it
    holds (a quote, a backslash, a newline), it stays data. The dbt project's twin is the macro sql_string
    (dbt_project/macros/sources.sql)."""
    return "'" + str(text).replace("'", "''") + "'"


def scalar(con: duckdb.DuckDBPyConnection, query: str, parameters: object = None) -> Any:
    """The first value of the one row ``query`` returns (an aggregate's, a one-row table function's)."""
    row = con.execute(query, parameters).fetchone()
    if row is None:
        raise LookupError(f"no row from: {query}")
    return row[0]


def _columns(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f"describe {query}").fetchall()]


def sync_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    select: str,
    *,
    key: str | None = None,
    since: str | None = None,
    lookback_hours: float = 0,
) -> str:
    """Make ``schema.table`` of ``con`` hold the rows of ``select`` (a query over an attached database).

    With a ``key`` and ``since`` (the newest ``extracted_at`` the table held when it was published), and the table
    already there with the same columns, only the rows read since then, less ``lookback_hours``, replace theirs by
    key: the rows an incremental dbt build (delete+insert by the same key, from the same watermark) can have
    changed. The result is checked by its row count, and the table is made whole if it differs. Otherwise the
    table is made whole. Returns ``"delta"`` or ``"whole"``."""
    name = f'"{schema}"."{table}"'
    con.execute(f'create schema if not exists "{schema}"')
    exists = scalar(
        con,
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [schema, table],
    )
    if key and since and exists and _columns(con, f"select * from {name}") == _columns(con, select):
        changed = (
            f"select * from ({select}) where extracted_at > timestamptz {sql_string(since)} "
            f"- interval '{float(lookback_hours) * 3600:.0f} seconds'"
        )
        con.execute(f"create temp table _changed as {changed}")
        con.execute(f'delete from {name} where "{key}" in (select "{key}" from _changed)')
        con.execute(f"insert into {name} select * from _changed")
        con.execute("drop table _changed")
        held = scalar(con, f"select count(*) from {name}")
        wanted = scalar(con, f"select count(*) from ({select})")
        if held == wanted:
            return "delta"
        log.warning(
            "%s.%s: the copy held %d rows after its update, its source %d: copying it whole",
            schema,
            table,
            held,
            wanted,
        )
    con.execute(f"create or replace table {name} as {select}")
    return "whole"
