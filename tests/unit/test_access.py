"""Files at rest by need to know (cdr.access): what the pipeline writes is 0640 in 0750 folders of the group the
operator names, whatever the umask, and a published file keeps the mode and group an operator gave it."""

from __future__ import annotations

import grp
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.unit.test_publish import incremental_project, make_build, make_lake_build  # noqa: F401


def other_groups(count: int) -> list[int]:
    """``count`` real groups of this machine other than the process's own, that this process may give files; the
    test is skipped (saying why) where there are not enough."""
    own = os.getegid()
    if os.geteuid() == 0:
        usable = sorted({g.gr_gid for g in grp.getgrall()} - {own})
    else:
        usable = sorted(set(os.getgroups()) - {own})
    if len(usable) < count:
        pytest.skip(f"needs {count} groups besides the process's own that this user may give files; has {usable}")
    return usable[:count]


@pytest.fixture
def groups(monkeypatch) -> tuple[int, int, int]:
    """(CDR_FILE_GROUP, CDR_MASKED_GROUP, a third group), set by name and by gid to show both are taken."""
    files, masked, third = other_groups(3)
    monkeypatch.setenv("CDR_FILE_GROUP", grp.getgrgid(files).gr_name)
    monkeypatch.setenv("CDR_MASKED_GROUP", str(masked))
    return files, masked, third


@pytest.fixture
def open_umask():
    """The widest umask: what is private must be made so by the code, not by the umask."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def mode_and_group(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_gid


def test_written_files_and_the_folders_made_for_them_are_private_whatever_the_umask(data_dir, groups, open_umask):
    from cdr import access
    from cdr.fsutil import atomic_write_bytes
    from cdr.lake.quarantine import quarantine

    files, _, _ = groups
    atomic_write_bytes(data_dir / "a" / "b" / "note.json", b"{}")
    quarantine("kazoo", b"not a record +27821234567", "test")
    assert mode_and_group(data_dir / "a" / "b" / "note.json") == (0o640, files)
    for folder in (data_dir, data_dir / "a", data_dir / "a" / "b", data_dir / "quarantine" / "kazoo"):
        assert mode_and_group(folder) == (0o2750, files), folder
    bodies = list((data_dir / "quarantine").rglob("*.*"))
    assert len(bodies) == 2 and {mode_and_group(p) for p in bodies} == {(0o640, files)}
    assert list(access.too_wide(data_dir)) == []


def test_the_salt_is_never_readable_but_by_its_owner(data_dir, groups, open_umask, monkeypatch):
    from cdr.warehouse.masking import number_salt

    monkeypatch.delenv("CDR_NUMBER_SALT", raising=False)
    salt = number_salt()
    assert mode_and_group(data_dir / "build" / "number.salt") == (0o600, groups[0])
    assert number_salt() == salt


def test_lake_files_are_private_whatever_the_umask(tmp_path, groups, open_umask):
    import pyarrow as pa

    from cdr.lake.writer import LakeWriter, ensure_schema_file, lake_schema, replace_file

    schema = lake_schema([pa.field("id", pa.string())])
    row = {"id": "x", "_source": "t", "_extracted_at": 0, "_raw": "{}"}
    lake = tmp_path / "lake"
    with LakeWriter("t", schema, "u1", lake_root=lake) as writer:
        writer.write(row, date(2026, 11, 20))
    ensure_schema_file("t", schema, lake)
    replace_file("own", "own__t", pa.Table.from_pylist([row], schema=schema), lake)
    written = [p for p in lake.rglob("*") if p.is_file()]
    assert {p.name for p in written} == {"t__u1.parquet", "_schema.parquet", "own__t.parquet"}
    assert {mode_and_group(p) for p in written} == {(0o640, groups[0])}
    assert {mode_and_group(p) for p in lake.rglob("*") if p.is_dir()} | {mode_and_group(lake)} == {(0o2750, groups[0])}


def test_a_publish_keeps_the_mode_and_group_an_operator_gave_the_warehouse(incremental_project, groups, open_umask):
    from cdr.warehouse.publish import publish_warehouse

    files, _, third = groups
    tmp = incremental_project
    build, target = tmp / "build.duckdb", tmp / "data" / "warehouse.duckdb"
    legs = [(f"k{i}", f"+2782000{i:04d}", "2026-11-19 10:00:00+00") for i in range(5)]
    make_lake_build(build, legs, agents=2)
    publish_warehouse(build, target, lineage="L1")
    # a first publish: 0640 in CDR_FILE_GROUP, and so the slot it is a second name of
    assert mode_and_group(target) == (0o640, files)
    slots = target.parent / f".{target.name}.slots"
    assert mode_and_group(slots) == (0o2750, files)

    os.chmod(target, 0o600)
    os.chown(target, -1, third)
    for lineage in ("L1", "L1", None):  # an incremental publish (a delta on the spare), another, then a whole one
        legs.append((f"k{len(legs)}", "+27820009999", "2026-11-20 10:00:00+00"))
        make_lake_build(build, legs, agents=2)
        publish_warehouse(build, target, lineage=lineage)
        assert mode_and_group(target) == (0o600, third), lineage
        with duckdb.connect(str(target), read_only=True) as con:
            assert con.execute("select count(*) from marts.fct_cdr").fetchone()[0] == len(legs)
    # the other slot, which the next publish writes and links in, was given the same
    assert {mode_and_group(p) for p in (slots / "a", slots / "b")} == {(0o600, third)}

    # it holds numbers: access for others is never carried over
    os.chmod(target, 0o664)
    publish_warehouse(build, target, lineage="L1")
    assert mode_and_group(target) == (0o660, third)


def test_the_masked_copy_is_in_its_own_group_and_may_be_opened_wider(data_dir, groups, open_umask, tmp_path):
    from cdr import config
    from cdr.warehouse.masking import publish_masked
    from cdr.warehouse.publish import publish_warehouse

    files, masked, _ = groups
    make_build(tmp_path / "build.duckdb", 3)
    publish_warehouse(tmp_path / "build.duckdb", config.warehouse_path())
    target = data_dir / "warehouse_masked.duckdb"
    publish_masked(config.warehouse_path(), target, salt="s")
    assert mode_and_group(target) == (0o640, masked)
    assert mode_and_group(config.warehouse_path()) == (0o640, files)
    # its readers reach it: the data directory is theirs to enter (and only that: no setgid, nothing inherits it)
    assert mode_and_group(data_dir) == (0o750, masked)
    # no number in it: an operator may open it to others, and the next publish keeps that
    os.chmod(target, 0o644)
    publish_masked(config.warehouse_path(), target, salt="s")
    assert mode_and_group(target) == (0o644, masked)


def test_groups_are_named_by_name_or_number_and_a_wrong_one_is_refused(monkeypatch):
    from cdr import access

    own = grp.getgrgid(os.getegid())
    monkeypatch.setenv("CDR_FILE_GROUP", own.gr_name)
    assert access.file_group() == own.gr_gid
    monkeypatch.setenv("CDR_FILE_GROUP", str(own.gr_gid))
    assert access.file_group() == own.gr_gid
    monkeypatch.delenv("CDR_MASKED_GROUP", raising=False)
    assert access.masked_group() == own.gr_gid  # defaults to CDR_FILE_GROUP
    monkeypatch.setenv("CDR_FILE_GROUP", "no-such-group-cdr-test")
    with pytest.raises(ValueError, match="CDR_FILE_GROUP"):
        access.file_group()
    monkeypatch.delenv("CDR_FILE_GROUP")
    assert access.file_group() is None  # the process's own group, as the system gives it


def test_what_an_older_release_left_open_is_listed_and_narrowed(data_dir, groups):
    from cdr import access

    (data_dir / "lake" / "kazoo").mkdir(parents=True)
    old = data_dir / "lake" / "kazoo" / "kazoo__x.parquet"
    old.write_bytes(b"PAR1")
    os.chmod(old, 0o644)
    os.chmod(data_dir / "lake", 0o755)
    secret = data_dir / "number.salt"
    secret.write_bytes(b"s")
    os.chmod(secret, 0o600)
    found = {path for path, _, _ in access.too_wide(data_dir)}
    assert old in found and data_dir / "lake" in found and secret not in found
    access.fix(data_dir)
    assert list(access.too_wide(data_dir)) == []
    assert mode_and_group(old) == (0o640, groups[0])
    assert mode_and_group(data_dir / "lake") == (0o2750, groups[0])
    assert mode_and_group(secret)[0] == 0o600


def test_the_build_runs_dbt_and_duckdb_under_a_private_umask():
    from cdr import access

    previous = os.umask(0o002)
    try:
        with access.private_umask():
            inside = os.umask(0o027)
            os.umask(inside)
        assert inside == 0o027
        assert os.umask(previous) == 0o002  # given back
    finally:
        os.umask(previous)
