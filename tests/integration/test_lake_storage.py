"""One storage interface, two homes (cdr.lake.storage): local disk and an S3 server (moto_server on loopback) answer
every operation alike, as the readers (DuckDB through duckdb_connect) see it."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdr.lake.storage import LocalStorage, ObjectStorage, open_storage
from cdr.lake.writer import duckdb_connect
from tests.s3server import moto_server

pytestmark = pytest.mark.integration

D1, D2 = date(2026, 11, 19), date(2026, 11, 20)
SCHEMA = pa.schema([pa.field("id", pa.string())])


@pytest.fixture(scope="module")
def s3():
    with moto_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def storage(request, data_dir, monkeypatch):
    if request.param == "local":
        monkeypatch.delenv("CDR_LAKE_URL", raising=False)
        return open_storage(data_dir / "lake")
    s3 = request.getfixturevalue("s3")
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=bucket)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    monkeypatch.setenv("CDR_LAKE_URL", f"s3://{bucket}/lake")
    return open_storage()


def write_unit(storage, key: str, days: dict[date, list[str]]):
    unit = storage.unit("t", key)
    for day, ids in days.items():
        pq.write_table(pa.table({"id": ids}, schema=SCHEMA), unit.stage(day))
    return unit.commit(sum(len(ids) for ids in days.values()))


def read_ids(storage, days=None) -> list[str]:
    files = storage.live_files("t", days)
    if not files:
        return []
    with duckdb_connect() as con:
        return [r[0] for r in con.execute("select id from read_parquet(?) order by id", [files]).fetchall()]


def test_the_factory_tells_the_homes_apart_by_the_url():
    assert isinstance(open_storage("s3://b/p"), ObjectStorage)
    assert isinstance(open_storage(Path("/x")), LocalStorage) and isinstance(open_storage("/x"), LocalStorage)


def test_a_unit_commits_whole_and_a_rerun_replaces_it_in_every_date(storage):
    files, removed = write_unit(storage, "t__u1", {D1: ["a", "b"], D2: ["c"]})
    assert len(files) == 2 and removed == []
    assert read_ids(storage) == ["a", "b", "c"] and read_ids(storage, [D2]) == ["c"]
    # the same unit again, now holding one date only: the other date's file goes
    files, removed = write_unit(storage, "t__u1", {D1: ["a2"]})
    assert len(files) == 1 and len(removed) >= 1
    assert read_ids(storage) == ["a2"]
    # another unit beside it is untouched by either
    write_unit(storage, "t__u2", {D2: ["z"]})
    assert read_ids(storage) == ["a2", "z"]


def test_an_aborted_unit_leaves_readers_where_they_were(storage):
    write_unit(storage, "t__u1", {D1: ["a"]})
    unit = storage.unit("t", "t__u1")
    pq.write_table(pa.table({"id": ["never"]}, schema=SCHEMA), unit.stage(D1))
    unit.abort()
    assert read_ids(storage) == ["a"]
    storage.sweep("t")
    assert read_ids(storage) == ["a"]


def test_a_file_replaced_whole_a_schema_file_and_a_put_object(storage):
    location = storage.replace_file("own", "own__t", lambda p: pq.write_table(pa.table({"n": [1, 2]}), p), 2)
    with duckdb_connect() as con:
        assert con.execute("select count(*) from read_parquet(?)", [storage.readable(location)]).fetchone()[0] == 2
    first = storage.schema_file("t", SCHEMA)
    assert storage.schema_file("t", SCHEMA) == first  # unchanged: not written again
    with duckdb_connect() as con:
        described = con.execute("select * from read_parquet(?)", [storage.readable(first)]).description
    assert [c[0] for c in described] == ["id"]
    storage.put("q/2026-11-20/x.bin", b"12345")
    storage.put("q/2026-11-20/x.json", b"{}")
    assert storage.sizes("q/2026-11-20", ".bin") == [5]
    assert storage.sizes("q/elsewhere", ".bin") == []
