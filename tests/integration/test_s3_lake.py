"""The lake on object storage (CDR_LAKE_URL=s3://...) against a real S3 server (moto_server on loopback).

A unit is committed by a manifest (cdr.lake.objectstore): a writer killed at any point leaves readers on the unit's
previous complete version, a re-run converges on the new one, and no row is ever read twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from cdr.lake import objectstore
from cdr.lake.writer import LakeWriter, duckdb_connect, ensure_schema_file, lake_schema, read_paths, sweep_temporaries
from tests.s3server import moto_server

pytestmark = pytest.mark.integration

SCHEMA = lake_schema([pa.field("id", pa.string())])
NOW = datetime(2026, 11, 21, tzinfo=UTC)
DAYS = [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)]


def row(i: str) -> dict:
    return {"id": i, "_source": "t", "_extracted_at": NOW, "_raw": json.dumps({"id": i})}


@pytest.fixture(scope="module")
def s3():
    with moto_server() as server:
        yield server


@pytest.fixture
def lake(s3, data_dir, monkeypatch):
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    s3.client().create_bucket(Bucket=bucket)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    monkeypatch.delenv("CDR_LAKE_GRACE_SECONDS", raising=False)
    url = f"s3://{bucket}/cdr/lake"
    monkeypatch.setenv("CDR_LAKE_URL", url)
    return SimpleNamespace(url=url, bucket=bucket, server=s3, prefix="cdr/lake/")


def seen_by_duckdb(url: str, source: str = "t", column: str = "id") -> list[str]:
    """What dbt's staging source reads: the same glob, through the filesystem the dbt plugin registers."""
    with duckdb_connect() as con:
        return [
            r[0]
            for r in con.execute(
                f"select {column} from read_parquet('{objectstore.read_url(url)}/{source}/**/*.parquet', "
                "union_by_name = true, hive_partitioning = false) order by 1"
            ).fetchall()
        ]


def seen_by_paths(source: str = "t") -> list[str]:
    files = read_paths(source)
    if not files:
        return []
    with duckdb_connect() as con:
        return sorted(r[0] for r in con.execute("select id from read_parquet(?)", [files]).fetchall())


def write_version(tag: str, days: list[date], per_day: int = 50, unit: str = "u1"):
    with LakeWriter("t", SCHEMA, unit) as writer:
        for day in days:
            for n in range(per_day):
                writer.write(row(f"{tag}-{day.isoformat()}-{n:03d}"), day)
    return writer


def expected(tag: str, days: list[date], per_day: int = 50) -> list[str]:
    return sorted(f"{tag}-{day.isoformat()}-{n:03d}" for day in days for n in range(per_day))


def test_a_unit_commits_and_a_rerun_replaces_it_for_readers(lake):
    write_version("v1", DAYS)
    assert seen_by_duckdb(lake.url) == seen_by_paths() == expected("v1", DAYS)
    keys = lake.server.keys(lake.bucket, lake.prefix)
    assert f"{lake.prefix}t/_schema.parquet" in keys
    assert sum(key.endswith(objectstore.COMMIT_SUFFIX) for key in keys) == 1
    assert not any(key.endswith(objectstore.INTENT_SUFFIX) for key in keys)

    # Again with rows on two of the dates: the third date's file is no longer read.
    writer = LakeWriter("t", SCHEMA, "u1")
    for n in range(5):
        writer.write(row(f"v2-{n}"), DAYS[0])
        writer.write(row(f"v2b-{n}"), DAYS[1])
    result = writer.commit()
    assert (
        seen_by_duckdb(lake.url)
        == seen_by_paths()
        == sorted([f"v2-{n}" for n in range(5)] + [f"v2b-{n}" for n in range(5)])
    )
    assert result.rows == 10 and len(result.files) == 2 and len(result.removed) == 3
    # Within the grace period the superseded files stay, for a reader that listed them just before the commit.
    assert all(path[len("s3://") :].split("/", 1)[1] in lake.server.keys(lake.bucket) for path in result.removed)


def test_other_units_and_empty_days(lake):
    write_version("a", DAYS[:1], unit="u1")
    write_version("b", DAYS[:1], unit="u2")
    with LakeWriter("t", SCHEMA, "u3") as writer:
        writer.write_table(SCHEMA.empty_table(), DAYS[2])  # an interval with no rows still commits its file
    assert seen_by_duckdb(lake.url) == expected("a", DAYS[:1]) + expected("b", DAYS[:1])
    assert len(read_paths("t")) == 3


def test_the_superseded_and_killed_files_go_after_the_grace_period(lake, monkeypatch):
    write_version("v1", DAYS)
    write_version("v2", DAYS[:2])
    assert len([k for k in lake.server.keys(lake.bucket, lake.prefix) if "@" in k and k.endswith(".parquet")]) == 5
    monkeypatch.setenv("CDR_LAKE_GRACE_SECONDS", "0")
    sweep_temporaries("t")
    data = [k for k in lake.server.keys(lake.bucket, lake.prefix) if k.endswith(".parquet")]
    assert sorted(data) == sorted(
        [f"{lake.prefix}t/_schema.parquet"]
        + [p.split("/", 1)[1] for p in (f[len("cdrlake://") :] for f in read_paths("t"))]
    )
    assert len(data) == 3
    assert seen_by_duckdb(lake.url) == expected("v2", DAYS[:2])


CHILD = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, date, datetime
    from cdr.lake import objectstore
    from cdr.lake.writer import LakeWriter
    sys.path.insert(0, {root!r})
    from tests.integration.test_s3_lake import SCHEMA, DAYS, row

    stage = sys.argv[1]
    if stage == "upload":
        real = objectstore.upload
        def put_file(*args, **kwargs):
            result = real(*args, **kwargs)
            print("uploaded one", flush=True)  # the parent kills us here: one file up, the others not
            time.sleep(120)
            return result
        objectstore.upload = put_file
    writer = LakeWriter("t", SCHEMA, "u1")
    for day in DAYS:
        for n in range(50):
            writer.write(row(f"v2-{{day.isoformat()}}-{{n:03d}}"), day)
    if stage == "stream":
        writer._convert_pending()
        print("streamed", flush=True)  # killed mid-unit, before the commit
        time.sleep(120)
    writer.commit()
    """
)


@pytest.mark.parametrize("stage", ["stream", "upload"])
def test_a_writer_killed_mid_unit_leaves_the_previous_version(lake, stage, tmp_path):
    write_version("v1", DAYS)
    before = lake.server.keys(lake.bucket, lake.prefix)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(Path(__file__).resolve().parents[2])))
    child = subprocess.Popen(
        [sys.executable, str(script), stage], stdout=subprocess.PIPE, text=True, env={**os.environ}, cwd=tmp_path
    )
    try:
        line = child.stdout.readline()
        assert line.strip() in ("streamed", "uploaded one"), line
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    after = lake.server.keys(lake.bucket, lake.prefix)
    if stage == "upload":
        # the killed attempt's intent and its one finished file are there, and no reader follows them
        assert len(set(after) - set(before)) == 2
        assert any(key.endswith(objectstore.INTENT_SUFFIX) for key in set(after) - set(before))
    else:
        assert after == before
    assert seen_by_duckdb(lake.url) == seen_by_paths() == expected("v1", DAYS)

    write_version("v2", DAYS)  # the re-run
    assert seen_by_duckdb(lake.url) == seen_by_paths() == expected("v2", DAYS)

    # and later the killed attempt's and the superseded files are removed; nothing a reader sees changes
    os.environ["CDR_LAKE_GRACE_SECONDS"] = "0"
    try:
        sweep_temporaries("t")
    finally:
        del os.environ["CDR_LAKE_GRACE_SECONDS"]
    left = lake.server.keys(lake.bucket, lake.prefix)
    assert len([k for k in left if k.endswith(".parquet")]) == 1 + len(DAYS)
    assert [k for k in left if "_manifests" in k] == [k for k in left if k.endswith(objectstore.COMMIT_SUFFIX)]
    assert len([k for k in left if "_manifests" in k]) == 1
    assert seen_by_duckdb(lake.url) == expected("v2", DAYS)


def test_credentials_from_an_aws_connection(lake, monkeypatch):
    """The Amazon provider's fields: login/password = key/secret, extra endpoint_url and region_name."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    from tests.s3server import KEY, REGION, SECRET

    conn = {
        "conn_type": "aws",
        "login": KEY,
        "password": SECRET,
        "extra": {"endpoint_url": lake.server.endpoint, "region_name": REGION},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_STORE", json.dumps(conn))
    monkeypatch.setenv("CDR_LAKE_CONN_ID", "lake_store")
    options = objectstore.s3_options()
    assert options["key"] == KEY and options["endpoint_url"] == lake.server.endpoint
    assert options["region"] == REGION
    write_version("c", DAYS[:1])
    assert seen_by_duckdb(lake.url) == expected("c", DAYS[:1])
    # the dbt subprocess gets the same as environment variables
    assert objectstore.subprocess_env(options)["AWS_ENDPOINT_URL_S3"] == lake.server.endpoint


def test_own_numbers_and_quarantine_on_object_storage(lake):
    from cdr.lake.own_numbers import write_own_numbers
    from cdr.lake.quarantine import DailyCap, quarantine

    write_own_numbers("kazoo", [{"number": "+27110000001", "origin": "api"}])
    write_own_numbers("kazoo", [{"number": "+27110000002", "origin": "api"}, {"number": "100", "origin": "connection"}])
    with duckdb_connect() as con:
        numbers = con.execute(
            f"select number from read_parquet('{objectstore.read_url(lake.url)}/own_numbers/*.parquet', "
            "union_by_name = true) order by 1"
        ).fetchall()
    assert numbers == [("+27110000002",), ("100",)]

    body = b"\x00not json{"
    where = quarantine("voicenter", body, "test: unreadable")
    assert where.startswith(f"{lake.url}/_quarantine/voicenter/")
    key = where[len(f"s3://{lake.bucket}/") :]
    assert lake.server.client().get_object(Bucket=lake.bucket, Key=key)["Body"].read() == body
    note = json.loads(
        lake.server.client().get_object(Bucket=lake.bucket, Key=key[: -len(".bin")] + ".json")["Body"].read()
    )
    assert note["bytes"] == len(body) and note["reason"] == "test: unreadable"
    cap = DailyCap("voicenter", max_items=2, max_bytes=10_000)
    assert cap.take(10) and not cap.take(10)  # one already held today, counted from the bucket


def test_schema_file_is_written_once(lake):
    first = ensure_schema_file("t", SCHEMA)
    assert first == f"{lake.url}/t/_schema.parquet"
    stamp = lake.server.client().head_object(Bucket=lake.bucket, Key=first.split("/", 3)[3])["ETag"]
    assert ensure_schema_file("t", SCHEMA) == first
    assert lake.server.client().head_object(Bucket=lake.bucket, Key=first.split("/", 3)[3])["ETag"] == stamp
    assert seen_by_duckdb(lake.url) == []


@pytest.mark.e2e
def test_dbt_staging_reads_the_live_lake_on_object_storage(lake, kazoo_rows):
    """The staging sources' read_parquet globs, rendered by dbt and read through the dbt plugin's filesystem,
    see each unit's live version only: a superseded version and a killed attempt's files are not read."""
    from cdr import config
    from cdr.lake.own_numbers import write_own_numbers
    from cdr.registry import lake_tables
    from cdr.sources.kazoo.records import SCHEMA as KAZOO
    from cdr.sources.kazoo.records import to_lake_row
    from cdr.warehouse.dbt_runner import run_dbt

    for source, schema in lake_tables().items():
        ensure_schema_file(source, schema)
    lineage = {
        "_source": "kazoo",
        "_interval_start": NOW,
        "_interval_end": NOW,
        "_extracted_at": NOW,
        "_batch": "p1",
        "_default_region": "US",
    }
    rows = [to_lake_row(record, lineage) for record in kazoo_rows[:400]]
    for version in (rows, rows[:150]):  # the second run of the unit supersedes the first
        with LakeWriter("kazoo", KAZOO, "u1") as writer:
            for values, day in version:
                writer.write(values, day)
    # a killed attempt's file: uploaded, never committed
    fs = objectstore.filesystem()
    stray = next(p for p in read_paths("kazoo"))[len("cdrlake://") :]
    objectstore.put_bytes(fs, stray.replace("@", "@19990101T000000000000Z-dead"), fs.cat_file(stray))
    write_own_numbers("kazoo", [{"number": "+27110000002", "origin": "api"}])

    run_dbt("run", "--select", "+path:models/staging", "--target-path", str(config.build_dir() / "target"))
    with duckdb_connect() as con:
        con.execute("attach ? as build (read_only)", [str(config.build_dir() / "build.duckdb")])
        counts = dict(
            con.execute(
                "select 'kazoo', count(*) from build.staging.stg_kazoo__cdrs union all "
                "select 'distinct', count(distinct kazoo_cdr_id) from build.staging.stg_kazoo__cdrs union all "
                "select 'own', count(*) from build.staging.stg_own_numbers__numbers union all "
                "select 'pbx', count(*) from build.staging.stg_pbx__cdrs"
            ).fetchall()
        )
    assert counts == {"kazoo": 150, "distinct": 150, "own": 1, "pbx": 0}


def test_receiver_segments_load_into_the_bucket_once(lake):
    """voicenter_cdrs loads a sealed segment into the bucket; loading it again (killed between the commit and
    moving the segment aside) supersedes, not duplicates; reconciliation reads what the webhook delivered there."""
    from cdr.sources.voicenter.load import load_staged
    from cdr.sources.voicenter.reconcile import delivered_by_webhook
    from cdr.sources.voicenter.staging import landing_folder
    from tests.helpers import voicenter_time

    when = voicenter_time(datetime(2026, 11, 20, 10, tzinfo=UTC))
    lines = [
        json.dumps({"received_at": NOW.isoformat(), "format": "json", "cdr": {"ivruniqueid": f"vc-{n}", "time": when}})
        for n in range(2)
    ]
    folder = landing_folder()
    folder.mkdir(parents=True)
    segment = folder / "seg-0001.jsonl"
    data = ("\n".join(lines) + "\nnot json\n").encode()
    for _ in range(2):
        segment.write_bytes(data)
        summary = load_staged()
        assert (summary["cdrs"], summary["quarantined"]) == (2, 1)
    assert seen_by_duckdb(lake.url, "voicenter", "ivruniqueid") == ["vc-0", "vc-1"]
    quarantined = [k for k in lake.server.keys(lake.bucket, f"{lake.prefix}_quarantine/voicenter/")]
    assert len(quarantined) == 2  # the bad line once (named by content), body and note
    found = delivered_by_webhook(datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
    assert set(found.ids) == found.in_interval == {"vc-0", "vc-1"}


def test_readers_racing_commits_see_whole_versions(lake, monkeypatch):
    """While a writer commits version after version of a unit, every read (the listing readers resolve, and the
    glob dbt uses) holds exactly one whole version: never a mix, never a part, never none."""
    import threading
    import time

    upload = objectstore.upload

    def slow_upload(fs, local, path):
        upload(fs, local, path)
        time.sleep(0.05)  # widen the window where some of a commit's files are up and the others not yet

    monkeypatch.setattr(objectstore, "upload", slow_upload)
    real_live = objectstore.live_attempts
    reader = threading.current_thread()

    def slow_manifests(fs, folder):
        if threading.current_thread() is reader:
            time.sleep(0.15)  # and the reader's, between listing the files and listing the manifests
        return real_live(fs, folder)

    monkeypatch.setattr(objectstore, "live_attempts", slow_manifests)
    write_version("v00", DAYS, per_day=20)
    versions = [f"v{n:02d}" for n in range(1, 7)]
    done = threading.Event()
    failures: list[BaseException] = []

    def writer():
        try:
            for tag in versions:
                write_version(tag, DAYS, per_day=20)
        except BaseException as exc:  # reported by the test below, not lost in the thread
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    whole = {tag: expected(tag, DAYS, per_day=20) for tag in ["v00", *versions]}
    listings = reads = during = 0
    while not done.is_set() or listings < 4:
        racing = not done.is_set()
        files = read_paths("t")
        attempts = {objectstore.split_name(f.rsplit("/", 1)[-1])[1] for f in files}
        assert len(files) == len(DAYS) and len(attempts) == 1, files
        listings += 1
        during += racing
        if listings % 2 == 0:
            assert seen_by_duckdb(lake.url) in whole.values()
            reads += 1
    thread.join()
    assert not failures, failures
    assert seen_by_duckdb(lake.url) == seen_by_paths() == whole[versions[-1]]
    assert during >= 1 and reads >= 2, (during, reads)  # the race was run, not missed


def test_a_local_lake_copied_up_reads_and_its_reruns_replace_it(lake, tmp_path):
    """Plain files (a local lake synced to the bucket) are read until a run of their unit commits over them."""
    local = tmp_path / "locallake"
    with LakeWriter("t", SCHEMA, "u1", lake_root=local) as writer:
        writer.write(row("old"), DAYS[0])
    fs = objectstore.filesystem()
    bucket_root = lake.url[len("s3://") :]
    for path in local.rglob("*.parquet"):
        objectstore.upload(fs, str(path), f"{bucket_root}/{path.relative_to(local).as_posix()}")
    assert seen_by_duckdb(lake.url) == seen_by_paths() == ["old"]
    write_version("new", DAYS[:1], per_day=2)
    assert seen_by_duckdb(lake.url) == seen_by_paths() == expected("new", DAYS[:1], per_day=2)
