"""Incremental warehouse builds give the warehouse a full rebuild gives: new intervals, re-pulled (back-filled)
intervals with changed records, PBX look-back re-reads, and a pull whose files became visible only after a
build that had already seen newer data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cdr import config
from cdr.sources.kazoo.client import KazooClient
from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
from cdr.sources.pbx.client import PbxClient
from cdr.sources.pbx.extract import pull_interval as pull_pbx
from cdr.warehouse.build import build_and_publish
from launch import start

pytestmark = pytest.mark.e2e
NOV_19, NOV_20, NOV_21 = (datetime(2026, 11, d, tzinfo=UTC) for d in (19, 20, 21))
TABLES = ("fct_cdr", "fct_call", "dim_agent", "dim_queue", "dim_date")


def snapshot() -> dict[str, list[tuple]]:
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in TABLES}


def compiled(model: str) -> str:
    return next((config.build_dir() / "target" / "run").rglob(f"{model}.sql")).read_text()


def last_steps() -> dict[str, float]:
    return json.loads((config.build_dir() / "state.json").read_text())["last_cycle"]["steps"]


def write_late_kazoo_file(hours_before_newest: float) -> str:
    """A KAZOO unit file stamped before the newest read the warehouse holds, as a long pull that started
    before the last build and finished after it would leave; returns the id of its one CDR."""
    source = next(p for p in (config.lake_dir() / "kazoo").rglob("kazoo__*.parquet"))
    table = pq.read_table(source).slice(0, 1)
    newest = pc.max(table["_extracted_at"]).as_py()
    late_id = table["id"][0].as_py() + "-late"
    stamped = pa.array([newest - timedelta(hours=hours_before_newest)], table.schema.field("_extracted_at").type)
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.array([late_id], pa.string()))
    table = table.set_column(table.schema.get_field_index("_extracted_at"), "_extracted_at", stamped)
    pq.write_table(table, source.with_name("kazoo__late_unit.parquet"))
    return late_id


def test_incremental_builds_equal_a_full_rebuild(data_dir, monkeypatch):
    monkeypatch.setenv("CDR_WAREHOUSE_DOCS", "true")
    with start("kazoo_sim.py") as kazoo, start("pbx_sim.py") as pbx:
        kazoo_client = KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account")
        pbx_client = PbxClient(pbx.url, "demo-pbx-token", "demo-pbx-api-key")

        pull_kazoo(kazoo_client, NOV_19, NOV_20)
        pull_pbx(pbx_client, NOV_19, NOV_20)
        cycle = build_and_publish()
        first = snapshot()
        # The cycle's return (the task's XCom) tells each dbt node's outcome and each table's rows.
        assert cycle["mode"] == "full" and cycle["counts"]["marts.fct_cdr"] == len(first["fct_cdr"])
        built = cycle["nodes"]["build"]
        assert built["model.cdr_warehouse.fct_cdr"] == built["seed.cdr_warehouse.cdr_sources"] == "success"
        assert {status for node, status in built.items() if node.startswith("test.")} == {"pass"}
        assert not [node for node in built if node.startswith("unit_test.")]  # test_dbt_unit_tests.py runs them
        assert all(node.startswith("source.") for node in cycle["nodes"]["source"])
        # one state file beside the build, no sidecar (the lock is the folder itself)
        files = {p.name for p in config.build_dir().iterdir() if p.is_file()}
        assert "state.json" in files and files <= {"build.duckdb", "number.salt", "state.json"}, files
        assert first["fct_cdr"], "the first day reached the warehouse"
        docs_written = (config.docs_dir() / "index.html").stat().st_mtime_ns

        # The next day, a back-fill of the first one (new reads of the same CDRs), and a late file.
        pull_kazoo(kazoo_client, NOV_20, NOV_21)
        pull_pbx(pbx_client, NOV_20, NOV_21)
        pull_kazoo(kazoo_client, NOV_19, NOV_20)
        late_id = write_late_kazoo_file(hours_before_newest=1)
        build_and_publish()

    # That build was incremental: it read the lake from a watermark, and replaced legs and calls by key.
    assert "delete from" in compiled("fct_cdr") and "delete from" in compiled("fct_call")
    # and fct_call looked for the legs of the changed calls only from a day before the earliest changed leg
    assert (
        "where started_at >= timestamptz"
        in next((config.build_dir() / "target" / "compiled").rglob("fct_call.sql")).read_text()
    )
    incremental = snapshot()
    # The code did not change, so neither did the docs: the incremental build kept the published ones.
    assert "docs generate" not in last_steps()
    assert (config.docs_dir() / "index.html").stat().st_mtime_ns == docs_written
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_cdr where source_cdr_id = ?", [late_id]).fetchone()[0] == 1
        assert con.execute("select count(*) = count(distinct cdr_key) from marts.fct_cdr").fetchone()[0]
    assert len(incremental["fct_cdr"]) > len(first["fct_cdr"])

    build_and_publish(full_refresh=True)
    assert "delete from" not in compiled("fct_cdr")
    assert "docs generate" in last_steps()
    assert snapshot() == incremental


def write_kazoo_row_without_id(hours_after_newest: float, name: str) -> None:
    """A KAZOO file of one CDR whose `id` is missing (not_null fails on it), stamped relative to the newest read
    the lake holds."""
    files = [p for p in (config.lake_dir() / "kazoo").rglob("kazoo__*.parquet") if "bad" not in p.name]
    newest = max(pc.max(pq.read_table(p)["_extracted_at"]).as_py() for p in files)
    table = pq.read_table(files[0]).slice(0, 1)
    stamped = pa.array([newest + timedelta(hours=hours_after_newest)], table.schema.field("_extracted_at").type)
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.nulls(1, pa.string()))
    table = table.set_column(table.schema.get_field_index("_extracted_at"), "_extracted_at", stamped)
    pq.write_table(table, files[0].with_name(name))


def published_at() -> object:
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        return con.execute("select published_at from main.build_info").fetchone()[0]


def test_incremental_tests_check_the_new_rows_and_full_builds_every_row(data_dir):
    """An incremental build's data tests look only at what was read since the last build whose tests passed: a
    bad new row fails the build (and it is not published) until it is gone; a bad row from before that mark is
    left to the full tests, which a full refresh and full_tests=True run."""
    from cdr.warehouse.build import tested_mark
    from cdr.warehouse.dbt_runner import DbtError

    with start("kazoo_sim.py") as kazoo:
        pull_kazoo(KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account"), NOV_19, NOV_20)
    build_and_publish()
    mark, first = tested_mark(), published_at()
    assert mark
    # CDR_WAREHOUSE_DOCS is off in the suite (tests/conftest.py): a first build generates no docs
    assert "docs generate" not in last_steps() and not config.docs_dir().exists()

    # A bad row read after the last build: the incremental build's tests catch it, twice (the mark holds).
    write_kazoo_row_without_id(hours_after_newest=1, name="kazoo__bad_new.parquet")
    for _ in range(2):
        with pytest.raises(DbtError, match="not_null_stg_kazoo__cdrs_kazoo_cdr_id"):
            build_and_publish()
        assert tested_mark() == mark and published_at() == first
    assert "tests_changed_since" in (config.build_dir() / "target" / "run_results.json").read_text()
    next(config.lake_dir().rglob("kazoo__bad_new.parquet")).unlink()
    build_and_publish()
    assert published_at() > first

    # A bad row stamped long before the mark (a file restored from a backup, say): incremental tests, like the
    # incremental models, do not read it; the nightly full tests and a full refresh do.
    write_kazoo_row_without_id(hours_after_newest=-72, name="kazoo__bad_old.parquet")
    build_and_publish()
    with pytest.raises(DbtError, match="not_null_stg_kazoo__cdrs_kazoo_cdr_id"):
        build_and_publish(full_tests=True)
    with pytest.raises(DbtError, match="not_null_stg_kazoo__cdrs_kazoo_cdr_id"):
        build_and_publish(full_refresh=True)


def bench_module(name: str):
    """A module of bench/ (the synthetic lake), which is not a package."""
    import importlib
    import sys

    bench = str(config.PROJECT_ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return importlib.import_module(name)


def newest_extracted_at(source: str) -> datetime:
    with duckdb.connect() as con:
        return con.execute(
            f"select max(_extracted_at) from read_parquet('{config.lake_dir() / source}/**/*.parquet')"
        ).fetchone()[0]


def write_again(source: str, where: str, changes: dict[str, object], name: str) -> list[tuple]:
    """The lake's rows of ``source`` matching ``where`` read again an hour after the newest read, with ``changes``
    (column: SQL expression), as one file beside the first of them; returns the rows as they were."""
    later = newest_extracted_at(source) + timedelta(hours=1)
    glob = f"{config.lake_dir() / source}/**/*.parquet"
    with duckdb.connect() as con:
        before = con.execute(
            f"select *, filename from read_parquet('{glob}', filename = true, union_by_name = true) where {where}"
        ).fetchall()
        assert before, f"no {source} row where {where}"
        folder = Path(before[0][-1]).parent
        replaced = {**changes, "_extracted_at": f"timestamptz '{later.isoformat()}'"}
        columns = ", ".join(f"{expr} as {col}" for col, expr in replaced.items())
        con.execute(
            f"copy (select * replace ({columns}) from read_parquet('{glob}', union_by_name = true) where {where}) "
            f"to '{folder / name}' (format parquet)"
        )
    return before


def kpi_snapshot() -> dict[str, list[tuple]]:
    """The published KPI and data-quality tables, and the build's re-send conflicts, in a stable order
    (fct_inbound_call without extracted_at: a number recomputed because a call left it carries that call's)."""
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        snap = {
            t: con.execute(f"select * {exclude} from marts.{t} order by all").fetchall()
            for t, exclude in (
                ("fct_inbound_call", "exclude (extracted_at)"),
                ("fct_call", ""),
                ("dq_unmapped", ""),
                ("agg_agent_daily", ""),
            )
        }
    with duckdb.connect(str(config.build_dir() / "build.duckdb"), read_only=True) as con:
        snap["resend_conflicts"] = con.execute(
            "select * from intermediate.int_voicenter__resend_conflicts order by all"
        ).fetchall()
    return snap


def test_incremental_repeat_callers_and_resend_conflicts_equal_a_full_rebuild(data_dir):
    """fct_inbound_call (incremental by number) and the Voicenter re-send count (int_voicenter__cdr_versions)
    after new calls from numbers that called before, a call that moved to another number and a re-send with
    other content, equal a full rebuild; the re-send is counted once in dq_unmapped."""
    from cdr.lake.writer import ensure_schema_file
    from cdr.registry import lake_tables

    synthetic = bench_module("synthetic_lake")
    lake = config.lake_dir()
    for source, schema in lake_tables().items():
        ensure_schema_file(source, schema)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # 30 numbers per source: every number calls many times
    synthetic.write_legs(lake, 2_000, now - timedelta(days=3), 2, customers=30)
    build_and_publish()
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        # an answered KAZOO call from a number with calls before and after it
        moved_call, old_number = con.execute(
            "select call_key, remote_number from marts.fct_inbound_call "
            "where source = 'kazoo' and next_inbound_call_key is not null and call_key in "
            "(select next_inbound_call_key from marts.fct_inbound_call) order by call_key limit 1"
        ).fetchone()
        resent = con.execute(
            "select source_cdr_id from marts.fct_cdr where source = 'voicenter' order by source_cdr_id limit 1"
        ).fetchone()[0]

    synthetic.write_legs(lake, 400, now - timedelta(hours=20), 0.8, first=10_000, read_delay=30, customers=30)
    # both legs of the call read again with another caller: it leaves its number
    write_again("kazoo", f"interaction_id = '{moved_call}'", {"caller_id_number": "'2015550999'"}, "moved.parquet")
    # a Voicenter CDR sent again with another status: the first copy counts, the re-send is a conflict
    with duckdb.connect() as con:
        status = con.execute(
            f"select status from read_parquet('{lake}/voicenter/**/*.parquet') where ivruniqueid = ? limit 1", [resent]
        ).fetchone()[0]
    other = "NOANSWER" if status != "NOANSWER" else "ANSWER"
    write_again(
        "voicenter",
        f"ivruniqueid = '{resent}'",
        {"status": f"'{other}'", "received_at": "received_at + interval 1 day"},
        "resent.parquet",
    )
    build_and_publish()
    assert json.loads((config.build_dir() / "state.json").read_text())["last_cycle"]["mode"] == "incremental"
    # Both were built incrementally: by the numbers touched, and from the new copies merged with the held ones.
    assert "delete from" in compiled("fct_inbound_call") and "delete from" in compiled("int_voicenter__cdr_versions")
    sql = {
        model: next((config.build_dir() / "target" / "compiled").rglob(f"{model}.sql")).read_text()
        for model in ("fct_inbound_call", "int_voicenter__cdr_versions")
    }
    assert "inner join touched_numbers" in sql["fct_inbound_call"]
    assert "semi join legs" in sql["int_voicenter__cdr_versions"]
    incremental = kpi_snapshot()
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        assert con.execute(
            "select remote_number from marts.fct_inbound_call where call_key = ?", [moved_call]
        ).fetchone() == ("+12015550999",)
        # no row of the old number still names the moved call as its next one
        assert not con.execute(
            "select count(*) from marts.fct_inbound_call where remote_number = ? and next_inbound_call_key = ?",
            [old_number, moved_call],
        ).fetchone()[0]
        assert con.execute(
            "select legs from marts.dq_unmapped where affects = 'conflict' and raw_value = ?", [resent]
        ).fetchall() == [(1,)]

    build_and_publish(full_refresh=True)
    full = kpi_snapshot()
    differing = {
        table: {
            "full only": sorted(set(rows) - set(incremental[table]))[:3],
            "incremental only": sorted(set(incremental[table]) - set(rows))[:3],
        }
        for table, rows in full.items()
        if rows != incremental[table]
    }
    assert not differing, differing
