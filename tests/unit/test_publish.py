"""Publishing warehouse.duckdb: complete builds only, never blocked by an analyst's open connection."""

from __future__ import annotations

import duckdb
import pytest

from cdr.warehouse import build_lock, publish_warehouse


def make_build(path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema staging")
        con.execute(f"create table marts.fct_cdr as select range as id from range({rows})")
        con.execute("comment on table marts.fct_cdr is 'one row per leg'")
        con.execute("comment on column marts.fct_cdr.id is 'the id'")
        con.execute("create view staging.v as select 1")


def test_publish_copies_marts_with_comments_and_nothing_else(tmp_path):
    make_build(tmp_path / "build.duckdb", 5)
    counts = publish_warehouse(tmp_path / "build.duckdb", tmp_path / "warehouse.duckdb")
    assert counts == {"marts.fct_cdr": 5}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select comment from duckdb_tables() where table_name = 'fct_cdr'").fetchone()[0] \
            == "one row per leg"
        assert con.execute("select comment from duckdb_columns() where column_name = 'id'").fetchone()[0] == "the id"
        assert con.execute("select count(*) from duckdb_views() where schema_name = 'staging'").fetchone()[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build.duckdb", "warehouse.duckdb"]


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b1.duckdb", "warehouse.duckdb"]


def test_the_build_lock_is_exclusive_and_dies_with_its_holder(data_dir):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import time, cdr.warehouse as w\n"
        "with w.build_lock():\n    print('held', flush=True); time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
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
    answer = subprocess.run([cli, "-readonly", "-csv", "-noheader", tmp_path / "warehouse.duckdb", "-c",
                             "select count(*) from marts.fct_cdr"], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "4"


def test_a_build_makes_everything_unless_only_data_changed_since_the_last_one(data_dir, monkeypatch, tmp_path):
    from cdr import config
    from cdr.warehouse import DATA_SELECTION, dbt_build_arguments, project_fingerprint

    assert dbt_build_arguments() == ["build", "--full-refresh"]  # no build yet
    config.build_dir().mkdir(parents=True)
    (config.build_dir() / "build.duckdb").touch()
    (config.build_dir() / "project.fingerprint").write_text(project_fingerprint())
    assert dbt_build_arguments() == ["build", "--select", *DATA_SELECTION]
    assert dbt_build_arguments(full_refresh=True) == ["build", "--full-refresh"]
    # The views read the lake by path: another data directory is another project.
    (config.build_dir() / "project.fingerprint").write_text(project_fingerprint())
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("CDR_DATA_DIR", str(elsewhere))
    (elsewhere / "build").mkdir(parents=True)
    (elsewhere / "build" / "build.duckdb").touch()
    (elsewhere / "build" / "project.fingerprint").write_text((data_dir / "build" / "project.fingerprint").read_text())
    assert dbt_build_arguments() == ["build", "--full-refresh"]


def test_the_fingerprint_follows_the_dbt_project(monkeypatch, tmp_path):
    import shutil

    from cdr import config
    from cdr.warehouse import project_fingerprint

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

    from cdr.masking import publish_masked

    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path / "data"))
    full = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(full)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_cdr as select * from (values "
                    "('k1', '+442079460321', '1001', '+442079460321', '+442079460321', 'https://rec/1.mp3', [1]), "
                    "('k2', null, '+27821234567', '+27821234567', null, null, [2])) "
                    "t(cdr_key, caller_number, callee_number, remote_number, caller_number_as_sent, recording_url, "
                    "unmapped_values)")
        con.execute("create table marts.dq_unmapped as select * from (values "
                    "('remote_country', '+999123'), ('status', 'NEWWORD')) t(affects, raw_value)")
    publish_masked(full, tmp_path / "masked.duckdb", salt="s3cret")
    expected = "h:" + hashlib.sha256(b"s3cret:+442079460321").hexdigest()[:16]
    with duckdb.connect(str(tmp_path / "masked.duckdb"), read_only=True) as con:
        columns = [c[0] for c in con.execute("select column_name from duckdb_columns() where table_name = 'fct_cdr' "
                                             "order by column_index").fetchall()]
        assert columns == ["cdr_key", "caller_number", "callee_number", "remote_number", "caller_number_as_sent"]
        rows = con.execute("select * from marts.fct_cdr order by cdr_key").fetchall()
        assert rows[0] == ("k1", expected, "h:" + hashlib.sha256(b"s3cret:1001").hexdigest()[:16], expected, expected)
        assert rows[1][1] is None and rows[1][2] == rows[1][3] != "+27821234567"
        assert con.execute("select raw_value from marts.dq_unmapped order by affects").fetchall() == [
            ("h:" + hashlib.sha256(b"s3cret:+999123").hexdigest()[:16],), ("NEWWORD",)]
        text = (tmp_path / "masked.duckdb").read_bytes()
        assert b"s3cret" not in text and b"442079460321" not in text
