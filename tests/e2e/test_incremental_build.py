"""Incremental warehouse builds give the warehouse a full rebuild gives: new intervals, re-pulled (back-filled)
intervals with changed records, PBX look-back re-reads, and a pull whose files became visible only after a
build that had already seen newer data."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cdr import config
from cdr.kazoo.client import KazooClient
from cdr.kazoo.extract import pull_interval as pull_kazoo
from cdr.pbx.client import PbxClient
from cdr.pbx.extract import pull_interval as pull_pbx
from cdr.warehouse import build_and_publish
from launch import start

pytestmark = pytest.mark.e2e
UTC = UTC
NOV_19, NOV_20, NOV_21 = (datetime(2026, 11, d, tzinfo=UTC) for d in (19, 20, 21))
TABLES = ("fct_cdr", "fct_call", "dim_agent", "dim_queue", "dim_date")


def snapshot() -> dict[str, list[tuple]]:
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        return {t: con.execute(f"select * from marts.{t} order by all").fetchall() for t in TABLES}


def compiled(model: str) -> str:
    return next((config.build_dir() / "target" / "run").rglob(f"{model}.sql")).read_text()


def last_steps() -> dict[str, float]:
    return json.loads((config.build_dir() / "last_build.json").read_text())["steps"]


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


def test_incremental_builds_equal_a_full_rebuild(data_dir):
    with start("kazoo_sim.py") as kazoo, start("pbx_sim.py") as pbx:
        kazoo_client = KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account")
        pbx_client = PbxClient(pbx.url, "demo-pbx-token", "demo-pbx-api-key")

        pull_kazoo(kazoo_client, NOV_19, NOV_20)
        pull_pbx(pbx_client, NOV_19, NOV_20)
        build_and_publish()
        first = snapshot()
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
    from cdr.warehouse import DbtError, tested_mark

    with start("kazoo_sim.py") as kazoo:
        pull_kazoo(KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account"), NOV_19, NOV_20)
    build_and_publish()
    mark, first = tested_mark(), published_at()
    assert mark

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
