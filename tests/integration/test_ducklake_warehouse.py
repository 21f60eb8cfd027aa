"""The DuckLake warehouse target (cdr.warehouse.ducklake): a real PostgreSQL catalog (a database per test, created and
dropped here) and a local data path. One publish is one snapshot; readers see complete builds only, never block a
publish, and can read an earlier build by its snapshot."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import duckdb
import psycopg2
import pytest

from cdr.warehouse import ducklake
from tests.unit.test_publish import incremental_project, make_lake_build  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.ducklake]

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _postgres_or_skip():
    try:
        con = psycopg2.connect(connect_timeout=3, **PG)
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {error}")
    con.autocommit = True
    return con


@pytest.fixture
def catalog(monkeypatch, tmp_path):
    """A fresh PostgreSQL database as the DuckLake catalog, data under tmp_path; dropped afterwards."""
    try:
        ducklake.load_extensions(duckdb.connect())
    except ducklake.DuckLakeError as error:
        pytest.skip(str(error))
    name = f"cdr_ducklake_{uuid.uuid4().hex[:12]}"
    admin = _postgres_or_skip()
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    monkeypatch.setenv("CDR_WAREHOUSE_CATALOG", f"postgres:dbname={name} host=127.0.0.1 port=5432 user=postgres")
    monkeypatch.setenv("CDR_WAREHOUSE_DATA_PATH", str(tmp_path / "lakehouse"))
    yield name
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def legs(con, snapshot: int | None = None) -> list[tuple]:
    at = f" at (version => {snapshot})" if snapshot is not None else ""
    return con.execute(f"select cdr_key, caller_number from warehouse.marts.fct_cdr{at} order by all").fetchall()


def test_each_publish_is_one_snapshot_and_earlier_builds_stay_readable(catalog, incremental_project):
    from cdr.warehouse.publish import incremental_keys

    tmp = incremental_project
    build = tmp / "build.duckdb"
    old = [(f"k{i}", f"+2782000{i:04d}", "2026-11-19 10:00:00+00") for i in range(20)]
    make_lake_build(build, old, agents=3)
    first = ducklake.publish(build, lineage="L1", keys=incremental_keys())
    assert first["counts"] == {"marts.fct_cdr": 20, "marts.dim_agent": 3}
    assert first["modes"] == {"marts.dim_agent": "whole", "marts.fct_cdr": "whole"}

    # the next build: k3 read again with a new number, k20 new; published by the rows that changed
    changed = [*(r for r in old if r[0] != "k3"), ("k3", "+27829999999", "2026-11-20 10:00:00+00")]
    changed.append(("k20", "+27821111111", "2026-11-20 10:00:00+00"))
    make_lake_build(build, changed, agents=4)
    second = ducklake.publish(build, lineage="L1", keys=incremental_keys(), lookback_hours=6)
    assert second["modes"]["marts.fct_cdr"] == "delta"
    assert second["counts"] == {"marts.fct_cdr": 21, "marts.dim_agent": 4}

    with ducklake.connect() as con:
        history = ducklake.builds(con)
        # one snapshot per publish, each the build's own, whatever number of tables it changed
        assert [b["snapshot"] for b in history] == [first["snapshot"], second["snapshot"]]
        assert second["snapshot"] == con.execute("select id from warehouse.current_snapshot()").fetchone()[0]
        assert all(b["lineage"] == "L1" for b in history)
        expected_now = sorted((k, n) for k, n, _ in changed)
        assert legs(con) == expected_now
        assert legs(con, first["snapshot"]) == sorted((k, n) for k, n, _ in old)
        assert con.execute("select count(*) from marts.dim_agent").fetchone()[0] == 4
        comment = "select comment from duckdb_tables() where database_name = 'warehouse' and table_name = 'fct_cdr'"
        assert con.execute(comment).fetchone()[0] == "one row per leg"
    # a whole session pinned to the first build, as an analyst attaches it
    with ducklake.connect(snapshot=first["snapshot"]) as con:
        assert con.execute("select count(*) from marts.fct_cdr").fetchone()[0] == 20
        assert con.execute("select count(*) from marts.dim_agent").fetchone()[0] == 3
    # another lineage (a full build since) is published whole and still as one snapshot
    third = ducklake.publish(build, lineage="L2", keys=incremental_keys())
    assert third["modes"]["marts.fct_cdr"] == "whole"
    with ducklake.connect() as con:
        assert legs(con) == expected_now
        assert len(ducklake.builds(con)) == 3


def test_a_failed_publish_commits_nothing(catalog, incremental_project, monkeypatch):
    import cdr.warehouse.publish
    from cdr.warehouse.publish import incremental_keys

    tmp = incremental_project
    build = tmp / "build.duckdb"
    make_lake_build(build, [("k1", "1", "2026-11-20 10:00:00+00")], agents=2)
    good = ducklake.publish(build, lineage="L1", keys=incremental_keys())
    make_lake_build(build, [("k1", "1", "2026-11-20 10:00:00+00"), ("k2", "2", "2026-11-20 11:00:00+00")], agents=5)

    real = cdr.warehouse.publish.sync_table  # what sync_marts, shared with the file publish, calls

    def dies_on_the_second_table(con, schema, table, *args, **kwargs):
        if table == "fct_cdr":  # order by name: dim_agent is already replaced when this fails
            raise RuntimeError("killed mid-publish")
        return real(con, schema, table, *args, **kwargs)

    monkeypatch.setattr(cdr.warehouse.publish, "sync_table", dies_on_the_second_table)
    with pytest.raises(RuntimeError, match="killed mid-publish"):
        ducklake.publish(build, lineage="L1", keys=incremental_keys())
    with ducklake.connect() as con:
        assert [b["snapshot"] for b in ducklake.builds(con)] == [good["snapshot"]]
        assert con.execute("select count(*) from marts.dim_agent").fetchone()[0] == 2  # not half of the new build
        assert con.execute("select count(*) from marts.fct_cdr").fetchone()[0] == 1


READER = textwrap.dedent(
    """
    import sys, time
    from cdr.warehouse import ducklake
    con = ducklake.connect()
    con.execute("begin")  # one read transaction held open across the publish
    print(con.execute("select count(*) from marts.fct_cdr").fetchone()[0], flush=True)
    sys.stdin.readline()
    print(con.execute("select count(*) from marts.fct_cdr").fetchone()[0], flush=True)
    con.execute("commit")
    print(con.execute("select count(*) from marts.fct_cdr").fetchone()[0], flush=True)
    """
)


def test_a_reader_on_another_process_neither_blocks_a_publish_nor_sees_it_mid_read(catalog, incremental_project):
    from cdr.warehouse.publish import incremental_keys

    tmp = incremental_project
    build = tmp / "build.duckdb"
    make_lake_build(build, [(f"k{i}", str(i), "2026-11-20 10:00:00+00") for i in range(3)], agents=1)
    ducklake.publish(build, lineage="L1", keys=incremental_keys())
    reader = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "3"
        make_lake_build(build, [(f"k{i}", str(i), "2026-11-20 10:00:00+00") for i in range(7)], agents=1)
        # the reader's transaction is open: the publish must not wait for it
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from cdr.warehouse import ducklake; from cdr.warehouse.publish import incremental_keys; "
                "print(ducklake.publish(__import__('pathlib').Path(sys.argv[1]), 'L1', incremental_keys())"
                "['counts']['marts.fct_cdr'])",
                str(build),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "7"
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "3"  # its snapshot, not the build committed meanwhile
        assert reader.stdout.readline().strip() == "7"  # its next transaction: the new build
    finally:
        reader.kill()
        reader.wait()


def test_the_report_and_masked_copy_read_the_ducklake_when_it_is_the_target(catalog, incremental_project):
    from cdr.reporting import readiness
    from cdr.warehouse.masking import publish_masked

    tmp = incremental_project
    build = tmp / "build.duckdb"
    make_lake_build(build, [("k1", "+27820001111", "2026-11-20 10:00:00+00")], agents=1)
    assert readiness.published_at() is None  # the catalog exists but holds no build yet
    ducklake.publish(build, lineage="L1")
    with ducklake.connect() as con:
        published = con.execute("select published_at from main.build_info").fetchone()[0]
    assert readiness.published_at() == published
    counts = publish_masked(target=tmp / "masked.duckdb", salt="s")
    assert counts["marts.fct_cdr"] == 1
    with duckdb.connect(str(tmp / "masked.duckdb"), read_only=True) as con:
        (number,) = con.execute("select caller_number from marts.fct_cdr").fetchone()
        columns = [row[0] for row in con.execute("describe marts.fct_cdr").fetchall()]
    assert number.startswith("h:") and "27820001111" not in number
    assert "recording_url" not in columns


def test_a_ducklake_with_its_data_on_an_s3_server_publishes_and_reads(catalog, incremental_project, monkeypatch):
    """The data path on object storage, its credentials and endpoint from the environment (as docs/scale-out.md
    sets them); read back by a new session as an analyst's."""
    from cdr.warehouse.publish import incremental_keys
    from tests.s3server import REGION, moto_server

    try:
        ducklake.load_extensions(duckdb.connect(), s3=True)
    except ducklake.DuckLakeError as error:
        pytest.skip(str(error))
    build = incremental_project / "build.duckdb"
    rows = [(f"k{i}", f"+2782{i:07d}", "2026-11-20 10:00:00+00") for i in range(200)]
    make_lake_build(build, rows, agents=2)
    with moto_server() as s3:
        s3.client().create_bucket(Bucket="cdr")
        for name, value in {**s3.env(), "AWS_REGION": REGION}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CDR_WAREHOUSE_DATA_PATH", "s3://cdr/warehouse/")
        published = ducklake.publish(build, lineage="L1", keys=incremental_keys())
        assert published["counts"]["marts.fct_cdr"] == 200
        with ducklake.connect() as con:
            assert legs(con) == sorted((k, n) for k, n, _ in rows)
        assert [k for k in s3.keys("cdr", "warehouse/") if k.endswith(".parquet")]


def test_a_catalog_and_data_path_with_quotes_and_spaces_are_data(catalog, incremental_project, monkeypatch):
    """Operator input reaches DuckDB's ATTACH as data: a libpq catalog string quoting a value that holds a quote
    and a space (as libpq writes one: 'it\\'s'), and a data path with a quote, spaces and braces."""
    tmp = incremental_project
    where = f"postgres:dbname={catalog} host=127.0.0.1 port=5432 user=postgres application_name='cdr it\\'s'"
    monkeypatch.setenv("CDR_WAREHOUSE_CATALOG", where)
    data_path = tmp / "o'neil's lake {name}; --"
    monkeypatch.setenv("CDR_WAREHOUSE_DATA_PATH", str(data_path))
    build = tmp / "build.duckdb"
    rows = [(f"k{i}", f"+2782{i:07d}", "2026-11-20 10:00:00+00") for i in range(200)]  # beyond data inlining
    make_lake_build(build, rows, agents=1)
    published = ducklake.publish(build, lineage="L1")
    assert published["counts"]["marts.fct_cdr"] == 200
    with ducklake.connect() as con:
        assert legs(con) == sorted((k, n) for k, n, _ in rows)
        # the catalog recorded the data path as given
        (recorded,) = con.execute(
            "select value from __ducklake_metadata_warehouse.ducklake_metadata where key = 'data_path'"
        ).fetchone()
    assert recorded.rstrip("/") == str(data_path)
    assert list(data_path.rglob("*.parquet"))
