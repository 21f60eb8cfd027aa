"""Publishing warehouse.duckdb: complete builds only, never blocked by an analyst's open connection."""

from __future__ import annotations

import duckdb
import pytest

from cdr.warehouse.build import build_lock
from cdr.warehouse.publish import publish_warehouse


def make_build(path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema staging")
        con.execute(f"create table marts.fct_cdr as select range as id from range({rows})")
        con.execute("comment on table marts.fct_cdr is 'one row per leg'")
        con.execute("comment on column marts.fct_cdr.id is 'the id'")
        con.execute("create view staging.v as select 1")


def visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def assert_no_temporaries(folder) -> None:
    """Beside the published file only its hidden slots directory: the two slots and their record, no .tmp, no .wal."""
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert all(name.endswith(".slots") for name in hidden), hidden
    for slots in folder.glob(".*.slots"):
        assert {p.name for p in slots.iterdir()} <= {"a", "b", "state.json"}


def test_publish_copies_marts_with_comments_and_nothing_else(tmp_path):
    make_build(tmp_path / "build.duckdb", 5)
    counts = publish_warehouse(tmp_path / "build.duckdb", tmp_path / "warehouse.duckdb")
    assert counts == {"marts.fct_cdr": 5}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert (
            con.execute("select comment from duckdb_tables() where table_name = 'fct_cdr'").fetchone()[0]
            == "one row per leg"
        )
        assert con.execute("select comment from duckdb_columns() where column_name = 'id'").fetchone()[0] == "the id"
        assert con.execute("select count(*) from duckdb_views() where schema_name = 'staging'").fetchone()[0] == 0
    assert visible(tmp_path) == ["build.duckdb", "warehouse.duckdb"]
    assert_no_temporaries(tmp_path)


def test_an_open_analyst_session_keeps_its_build_and_new_sessions_see_the_next(tmp_path):
    make_build(tmp_path / "b1.duckdb", 3)
    publish_warehouse(tmp_path / "b1.duckdb", tmp_path / "warehouse.duckdb")
    analyst = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    make_build(tmp_path / "b2.duckdb", 7)
    publish_warehouse(tmp_path / "b2.duckdb", tmp_path / "warehouse.duckdb")
    assert analyst.execute("select count(*) from marts.fct_cdr").fetchone()[0] == 3
    analyst.close()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_cdr").fetchone()[0] == 7


def test_a_failed_publish_leaves_the_old_warehouse_and_no_temporaries(tmp_path):
    make_build(tmp_path / "b1.duckdb", 3)
    publish_warehouse(tmp_path / "b1.duckdb", tmp_path / "warehouse.duckdb")
    with pytest.raises(duckdb.Error):
        publish_warehouse(tmp_path / "missing" / "build.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_cdr").fetchone()[0] == 3
    assert visible(tmp_path) == ["b1.duckdb", "warehouse.duckdb"]
    assert_no_temporaries(tmp_path)


def test_the_build_lock_is_exclusive_and_dies_with_its_holder(data_dir):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import time, cdr.warehouse.build as w\n"
                "with w.build_lock():\n    print('held', flush=True); time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            with build_lock(timeout=0.2):
                pass
    finally:
        holder.kill()  # a killed build: its lock must free itself at once
        holder.wait()
    with build_lock(timeout=2):
        pass


def test_an_older_duckdb_opens_the_published_warehouse(tmp_path):
    """Analysts' tools bundle older DuckDBs: the 1.x CLI (duckdb-cli, .venv/bin/duckdb) reads the warehouse."""
    import subprocess
    import sys
    from pathlib import Path

    make_build(tmp_path / "build.duckdb", 4)
    publish_warehouse(tmp_path / "build.duckdb", tmp_path / "warehouse.duckdb")
    cli = Path(sys.executable).with_name("duckdb")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1."), version  # an older release than the one that built the file
    answer = subprocess.run(
        [
            cli,
            "-readonly",
            "-csv",
            "-noheader",
            tmp_path / "warehouse.duckdb",
            "-c",
            "select count(*) from marts.fct_cdr",
        ],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "4"


def test_a_build_makes_everything_unless_only_data_changed_since_the_last_one(data_dir, monkeypatch, tmp_path):
    from cdr import config
    from cdr.warehouse.build import (
        DATA_SELECTION,
        PROVED_DOWNSTREAM,
        BuildState,
        dbt_build_arguments,
        project_fingerprint,
    )

    # dbt's unit tests are never part of a cycle (they read no data); tests/e2e/test_dbt_unit_tests.py runs them
    every_row = ["build", "--full-refresh", "--exclude", "resource_type:unit_test"]
    full = [*every_row, *PROVED_DOWNSTREAM]
    assert dbt_build_arguments() == full  # no build yet
    assert dbt_build_arguments(full_tests=True) == every_row
    config.build_dir().mkdir(parents=True)
    (config.build_dir() / "build.duckdb").touch()
    BuildState(project=project_fingerprint()).save()
    incremental = ["build", "--select", *DATA_SELECTION, "--exclude", "resource_type:unit_test"]
    assert dbt_build_arguments() == incremental  # no build's tests passed yet: they check every row
    BuildState(project=project_fingerprint(), tested_through="2026-11-20 10:00:00+00").save()
    assert dbt_build_arguments() == [
        *incremental,
        *PROVED_DOWNSTREAM,
        "--vars",
        '{"tests_changed_since": "2026-11-20 10:00:00+00"}',
    ]
    assert dbt_build_arguments(full_tests=True) == incremental
    assert dbt_build_arguments(full_refresh=True) == full
    assert dbt_build_arguments(full_refresh=True, full_tests=True) == every_row
    # The views read the lake by path: another data directory is another project.
    BuildState(project=project_fingerprint()).save()
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("CDR_DATA_DIR", str(elsewhere))
    (elsewhere / "build").mkdir(parents=True)
    (elsewhere / "build" / "build.duckdb").touch()
    (elsewhere / "build" / "state.json").write_text((data_dir / "build" / "state.json").read_text())
    assert dbt_build_arguments() == full


def test_the_fingerprint_follows_the_dbt_project(monkeypatch, tmp_path):
    import shutil

    from cdr import config
    from cdr.warehouse.build import project_fingerprint

    copy = tmp_path / "dbt_project"
    shutil.copytree(config.DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    monkeypatch.setattr(config, "DBT_PROJECT_DIR", copy)
    before = project_fingerprint()
    (copy / "target").mkdir(exist_ok=True)
    (copy / "target" / "manifest.json").write_text("{}")  # dbt's output is not the project
    assert project_fingerprint() == before
    model = copy / "models" / "marts" / "dim_hour.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    assert project_fingerprint() != before


def test_the_masked_copy_hashes_every_number_stably_and_drops_recordings(tmp_path, monkeypatch):
    import hashlib

    import duckdb

    from cdr.warehouse.masking import publish_masked

    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path / "data"))
    full = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(full)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_cdr as select * from (values "
            "('k1', '+442079460321', '1001', '+442079460321', '+442079460321', 'https://rec/1.mp3', [1]), "
            "('k2', null, '+27821234567', '+27821234567', null, null, [2])) "
            "t(cdr_key, caller_number, callee_number, remote_number, caller_number_as_sent, recording_url, "
            "unmapped_values)"
        )
        con.execute(
            "create table marts.dq_unmapped as select * from (values "
            "('remote_country', '+999123'), ('status', 'NEWWORD')) t(affects, raw_value)"
        )
    publish_masked(full, tmp_path / "masked.duckdb", salt="s3cret")
    expected = "h:" + hashlib.sha256(b"s3cret:+442079460321").hexdigest()[:16]
    with duckdb.connect(str(tmp_path / "masked.duckdb"), read_only=True) as con:
        columns = [
            c[0]
            for c in con.execute(
                "select column_name from duckdb_columns() where table_name = 'fct_cdr' order by column_index"
            ).fetchall()
        ]
        assert columns == ["cdr_key", "caller_number", "callee_number", "remote_number", "caller_number_as_sent"]
        rows = con.execute("select * from marts.fct_cdr order by cdr_key").fetchall()
        assert rows[0] == ("k1", expected, "h:" + hashlib.sha256(b"s3cret:1001").hexdigest()[:16], expected, expected)
        assert rows[1][1] is None and rows[1][2] == rows[1][3] != "+27821234567"
        assert con.execute("select raw_value from marts.dq_unmapped order by affects").fetchall() == [
            ("h:" + hashlib.sha256(b"s3cret:+999123").hexdigest()[:16],),
            ("NEWWORD",),
        ]
        text = (tmp_path / "masked.duckdb").read_bytes()
        assert b"s3cret" not in text and b"442079460321" not in text


# Incremental publishing: a build database like dbt's, with an incremental table (by key, extracted_at) and a
# small one rebuilt whole; a manifest naming the incremental one.
def make_lake_build(path, legs: list[tuple[str, str, str]], agents: int) -> None:
    """``legs``: (cdr_key, caller_number, extracted_at)."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_cdr (cdr_key varchar, caller_number varchar, recording_url varchar, "
            "extracted_at timestamptz)"
        )
        con.executemany(
            "insert into marts.fct_cdr values (?, ?, 'https://rec/' || ?, ?::timestamptz)",
            [(k, n, k, t) for k, n, t in legs],
        )
        con.execute(f"create table marts.dim_agent as select range as agent_key from range({agents})")
        con.execute("comment on table marts.fct_cdr is 'one row per leg'")


@pytest.fixture
def incremental_project(tmp_path, monkeypatch):
    """cdr.warehouse.build reads the incremental tables from dbt's manifest: one naming marts.fct_cdr by cdr_key."""
    import json

    from cdr import config

    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path / "data"))
    target = config.build_dir() / "target"
    target.mkdir(parents=True)
    (target / "manifest.json").write_text(
        json.dumps(
            {
                "nodes": {
                    "model.x.fct_cdr": {
                        "resource_type": "model",
                        "name": "fct_cdr",
                        "schema": "marts",
                        "config": {"materialized": "incremental", "unique_key": "cdr_key"},
                    }
                }
            }
        )
    )
    return tmp_path


def rows(path, table="marts.fct_cdr"):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {table} order by all").fetchall()


def test_an_incremental_publish_applies_the_change_and_equals_a_whole_copy(incremental_project):
    from cdr.warehouse.masking import publish_masked
    from cdr.warehouse.publish import incremental_keys

    tmp = incremental_project
    build, warehouse, masked = tmp / "build.duckdb", tmp / "warehouse.duckdb", tmp / "masked.duckdb"
    old = [(f"k{i}", f"+2782000{i:04d}", "2026-11-19 10:00:00+00") for i in range(50)]
    make_lake_build(build, old, agents=3)
    publish_warehouse(build, warehouse, lineage="L1")
    publish_masked(warehouse, masked, salt="s", lineage="L1", keys=incremental_keys())
    first_inode = (tmp / "warehouse.duckdb").stat().st_ino
    # The next build: k3 read again with a new number, k50 new, and a new agent; a lookback of 6 h.
    changed = [
        *(r for r in old if r[0] != "k3"),
        ("k3", "+27829999999", "2026-11-20 10:00:00+00"),
        ("k50", "+27821111111", "2026-11-20 10:00:00+00"),
    ]
    make_lake_build(build, changed, agents=4)
    for _ in range(2):  # the spare slot is empty at first, then the copy two publishes ago
        counts = publish_warehouse(build, warehouse, lineage="L1")
        publish_masked(warehouse, masked, salt="s", lineage="L1", keys=incremental_keys(), lookback_hours=6)
    assert counts == {"marts.fct_cdr": 51, "marts.dim_agent": 4}
    assert (tmp / "warehouse.duckdb").stat().st_ino == first_inode  # the first copy, updated: nobody held it
    incremental, incremental_masked = rows(warehouse), rows(masked)
    assert len(incremental) == 51 and incremental[[r[0] for r in incremental].index("k3")][:3] == (
        "k3",
        "+27829999999",
        "https://rec/k3",
    )
    # the very same tables as a whole copy (no lineage)
    publish_warehouse(build, tmp / "whole.duckdb")
    publish_masked(tmp / "whole.duckdb", tmp / "whole_masked.duckdb", salt="s")
    assert incremental == rows(tmp / "whole.duckdb")
    assert incremental_masked == rows(tmp / "whole_masked.duckdb")
    assert rows(warehouse, "marts.dim_agent") == [(0,), (1,), (2,), (3,)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert (
            con.execute("select comment from duckdb_tables() where table_name = 'fct_cdr'").fetchone()[0]
            == "one row per leg"
        )
    # another salt or another lineage (a full build since) is copied whole, not patched
    publish_masked(warehouse, masked, salt="other", lineage="L1", keys=incremental_keys(), lookback_hours=6)
    publish_masked(tmp / "whole.duckdb", tmp / "whole_masked.duckdb", salt="other")
    assert rows(masked) == rows(tmp / "whole_masked.duckdb")
    assert_no_temporaries(tmp)


def test_a_whole_publish_leaves_a_spare_so_the_next_publish_copies_nothing(incremental_project, monkeypatch):
    """After a full build's publish, the next one applies the change to the spare copy in place: no byte copy of
    the file (at 10M legs, 3 GB for the two copies) in the incremental cycle."""
    from cdr.warehouse import duckfile
    from cdr.warehouse.duckfile import slots_dir

    tmp = incremental_project
    build, warehouse = tmp / "build.duckdb", tmp / "warehouse.duckdb"
    legs = [(f"k{i}", str(i), "2026-11-20 10:00:00+00") for i in range(5)]
    make_lake_build(build, legs, agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    slots = slots_dir(warehouse)
    live = warehouse.stat().st_ino
    [spare] = [slots / n for n in ("a", "b") if (slots / n).stat().st_ino != live]
    assert rows(spare) == rows(warehouse)
    spare_inode = spare.stat().st_ino

    copies = []
    real_copy = duckfile.shutil.copyfile
    monkeypatch.setattr(duckfile.shutil, "copyfile", lambda *a, **k: copies.append(a) or real_copy(*a, **k))
    make_lake_build(build, [*legs, ("k9", "9", "2026-11-20 11:00:00+00")], agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    assert copies == []
    assert warehouse.stat().st_ino == spare_inode  # the spare, updated in place, is now live
    assert len(rows(warehouse)) == 6
    assert_no_temporaries(tmp)


def test_the_delta_is_what_was_read_since_the_copy_less_the_lookback(incremental_project):
    """A row the copy lacks that was read before its newest row, less the lookback, is not looked for: the copy is
    then found short by its row count and copied whole, never published short."""
    tmp = incremental_project
    build, warehouse = tmp / "build.duckdb", tmp / "warehouse.duckdb"
    make_lake_build(build, [("k1", "1", "2026-11-20 10:00:00+00")], agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    make_lake_build(build, [("k1", "1", "2026-11-20 10:00:00+00"), ("k0", "0", "2026-11-01 00:00:00+00")], agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    assert [r[0] for r in rows(warehouse)] == ["k0", "k1"]


def test_an_analyst_who_holds_an_old_copy_keeps_it_while_later_builds_publish(incremental_project):
    """The analyst's process holds the copy two publishes ago (the spare slot): it is not written under them; the
    next copy is made from the live one, and the analyst's still reads its own build."""
    import subprocess
    import sys
    import time

    tmp = incremental_project
    build, warehouse = tmp / "build.duckdb", tmp / "warehouse.duckdb"
    legs = [("k1", "1", "2026-11-20 10:00:00+00")]
    make_lake_build(build, legs, agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    analyst = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, duckdb\n"
                f"con = duckdb.connect({str(warehouse)!r}, read_only=True)\n"
                "print(con.execute('select count(*) from marts.fct_cdr').fetchone()[0], flush=True)\n"
                "sys.stdin.readline()\n"
                "print(con.execute('select count(*) from marts.fct_cdr').fetchone()[0], flush=True)\n"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert analyst.stdout.readline().strip() == "1"
        for n in range(2, 6):  # builds 2 to 5, each a leg more; the analyst's copy is the spare of build 3 and 5
            legs.append((f"k{n}", str(n), f"2026-11-20 1{n}:00:00+00"))
            make_lake_build(build, legs, agents=1)
            started = time.monotonic()
            publish_warehouse(build, warehouse, lineage="L1")
            assert time.monotonic() - started < 30  # never waits for the analyst
            assert len(rows(warehouse)) == n
        analyst.stdin.write("\n")
        analyst.stdin.flush()
        assert analyst.stdout.readline().strip() == "1"
    finally:
        analyst.kill()
        analyst.wait()
    assert len(rows(warehouse)) == 5
    assert_no_temporaries(tmp)


def test_a_copy_changed_since_it_was_published_or_a_failed_update_is_not_trusted(incremental_project):
    from cdr.warehouse.duckfile import slots_dir

    tmp = incremental_project
    build, warehouse = tmp / "build.duckdb", tmp / "warehouse.duckdb"
    legs = [("k1", "1", "2026-11-20 10:00:00+00")]
    make_lake_build(build, legs, agents=1)
    publish_warehouse(build, warehouse, lineage="L1")
    publish_warehouse(build, warehouse, lineage="L1")
    # someone writes into the spare (the copy published first): its stamp no longer matches
    with duckdb.connect(str(slots_dir(warehouse) / "a")) as con:
        con.execute("delete from marts.fct_cdr")
    publish_warehouse(build, warehouse, lineage="L1")
    assert len(rows(warehouse)) == 1
    # an update that fails half-way leaves the published file as it was, and the next publish whole
    legs.append(("k2", "2", "2026-11-20 11:00:00+00"))
    make_lake_build(build, legs, agents=1)
    with pytest.raises(duckdb.Error):
        publish_warehouse(tmp / "missing.duckdb", warehouse, lineage="L1")
    assert len(rows(warehouse)) == 1
    publish_warehouse(build, warehouse, lineage="L1")
    assert len(rows(warehouse)) == 2
    assert_no_temporaries(tmp)


def test_an_older_duckdb_opens_an_incrementally_published_warehouse(incremental_project):
    import subprocess
    import sys
    from pathlib import Path

    tmp = incremental_project
    build, warehouse = tmp / "build.duckdb", tmp / "warehouse.duckdb"
    legs = [("k1", "1", "2026-11-20 10:00:00+00")]
    for n in range(2, 5):
        legs.append((f"k{n}", str(n), f"2026-11-20 1{n}:00:00+00"))
        make_lake_build(build, legs, agents=1)
        publish_warehouse(build, warehouse, lineage="L1")
    cli = Path(sys.executable).with_name("duckdb")
    answer = subprocess.run(
        [cli, "-readonly", "-csv", "-noheader", warehouse, "-c", "select count(*) from marts.fct_cdr"],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "4"
