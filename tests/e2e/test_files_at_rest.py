"""Files at rest by need to know, and operator input as data, on the whole pipeline: the four demo sources pulled,
drained, posted and loaded, the warehouse built and published (with its masked copy and docs) and the day's
report written, with

- a ``CDR_DATA_DIR`` whose name holds a quote, spaces, braces, ``$`` and a ``..`` component, and a ``CDR_LAKE_URL``
  (a local folder outside it) with a quote and braces: the warehouse must be the very one the demo's fingerprint
  describes, and every staging view must read exactly its lake folder, the path one literal, nothing injected;
- ``CDR_FILE_GROUP`` and ``CDR_MASKED_GROUP`` naming two real groups of the machine (not the process's own) and the
  report masked: every file must be 0640 (the salt 0600), every folder 0750, nothing open to others, each in the
  group the settings give it, after the pipeline and again after a rebuild, which must also keep the mode and group
  an operator gave warehouse.duckdb.
"""

from __future__ import annotations

import grp
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import redis
from post_voicenter import post_all

from launch import start, start_receiver, start_redis
from tests.e2e.conftest import DAY, VOICENTER
from tests.e2e.test_enigma_e2e import KEYS, MESSAGES
from tests.e2e.test_warehouse_fingerprint import FINGERPRINT, fingerprint
from tests.unit.test_access import other_groups

pytestmark = pytest.mark.e2e
REPORT_DAY = datetime(2026, 11, 20, tzinfo=UTC).date()
TOKEN = "demo-token-for-the-files-at-rest-test-0123"


def walk(root: Path) -> dict[Path, tuple[int, int, bool]]:
    """Every path under ``root`` (itself included): (mode, gid, is a folder). Links are not followed."""
    found = {}
    for folder, _, files in os.walk(root):
        for path in [Path(folder), *(Path(folder) / name for name in files)]:
            st = os.lstat(path)
            found[path] = (stat.S_IMODE(st.st_mode), st.st_gid, stat.S_ISDIR(st.st_mode))
    return found


def staging_reads(build_dir: Path) -> dict[str, list[list[str]]]:
    """Per staging model, the arguments of each read_parquet call of its compiled SQL as DuckDB's own parser reads
    them: a string constant as its text, anything else as the kind of expression it is."""

    def calls(node):
        if isinstance(node, dict):
            if node.get("function_name") == "read_parquet":
                yield node
            for value in node.values():
                yield from calls(value)
        elif isinstance(node, list):
            for value in node:
                yield from calls(value)

    def argument(arg) -> str:
        expression = arg.get("expression", arg)
        literal = expression.get("literal") or {}
        return literal["text"] if literal.get("kind") == "STRING" else expression.get("class", "?")

    manifest = json.loads((build_dir / "target" / "manifest.json").read_text())
    models = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/staging/")
    ]
    reads = {}
    with duckdb.connect() as con:
        for node in models:
            sql = (build_dir / "target" / "compiled" / node["package_name"] / node["original_file_path"]).read_text()
            tree = json.loads(con.execute("select json_serialize_sql(?)", [sql]).fetchone()[0])
            assert not tree.get("error"), (node["name"], tree)
            reads[node["name"]] = [
                [argument(a) for a in call.get("arguments", call.get("children", []))] for call in calls(tree)
            ]
    return reads


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The whole pipeline once, a look at every file, an operator's chmod and chgrp, a full rebuild and a second
    look; returns what was seen."""
    from cdr import config
    from cdr.reporting.build import build_report
    from cdr.sources.enigma.drain import drain
    from cdr.sources.kazoo.client import KazooClient
    from cdr.sources.kazoo.extract import pull_interval as pull_kazoo
    from cdr.sources.pbx.client import PbxClient
    from cdr.sources.pbx.extract import pull_interval as pull_pbx
    from cdr.sources.voicenter.load import load_staged
    from cdr.warehouse.build import build_and_publish

    files_gid, masked_gid, operator_gid = other_groups(3)
    base = tmp_path_factory.mktemp("atrest") / "o'neil's {schema} $HOME; --"
    (base / "cdr").mkdir(parents=True)
    data = base / "cdr" / ".." / "data"  # the `..` stays in the setting: the pipeline resolves it
    lake = base / "the lake's {name}"
    seen: dict = {"groups": (files_gid, masked_gid, operator_gid), "data": data.resolve(), "lake": lake}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDR_DATA_DIR", str(data))
        patch.setenv("CDR_LAKE_URL", str(lake))
        patch.setenv("CDR_FILE_GROUP", grp.getgrgid(files_gid).gr_name)
        patch.setenv("CDR_MASKED_GROUP", grp.getgrgid(masked_gid).gr_name)
        patch.setenv("CDR_REPORT_MASK_NUMBERS", "1")
        patch.setenv("CDR_WAREHOUSE_DOCS", "true")  # the docs' files are private too
        patch.delenv("CDR_NUMBER_SALT", raising=False)
        with start("kazoo_sim.py") as kazoo, start("pbx_sim.py") as pbx:
            pull_kazoo(KazooClient(kazoo.url, "demo-kazoo-api-key", "demo-account"), *DAY, default_region="US")
            pull_pbx(PbxClient(pbx.url, "demo-pbx-token", "demo-pbx-api-key"), *DAY)
        with start_redis() as server:
            client = redis.Redis(port=server.port)
            for line in MESSAGES.read_bytes().splitlines():
                key, raw = line.split(b"\t", 1)
                client.lpush(key, raw)
            drain(client, KEYS)
        with start_receiver(str(data), TOKEN) as receiver:
            post_all(receiver.url, TOKEN, VOICENTER)
        load_staged()
        build_and_publish()
        build_report(REPORT_DAY)
        with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
            seen["fingerprint"] = fingerprint(con)
        seen["reads"] = staging_reads(config.build_dir())
        seen["freshness"] = json.loads((config.build_dir() / "target" / "sources.json").read_text())
        seen["first"] = {**walk(config.data_dir()), **walk(lake)}

        # an operator narrows the analysts' file to its owner and another group; a full rebuild keeps that
        os.chmod(config.warehouse_path(), 0o600)
        os.chown(config.warehouse_path(), -1, operator_gid)
        build_and_publish(full_refresh=True)
        seen["rebuilt"] = {**walk(config.data_dir()), **walk(lake)}
        seen["warehouse"] = config.warehouse_path()
    return seen


def test_a_data_dir_and_lake_named_like_sql_build_the_demo_warehouse(pipeline):
    expected = json.loads(FINGERPRINT.read_text())
    found = pipeline["fingerprint"]
    assert set(found) == set(expected)
    assert {name: found[name] for name in expected if found[name] != expected[name]} == {}


def test_every_staging_view_reads_its_lake_folder_as_one_literal(pipeline):
    lake = str(pipeline["lake"])
    glob = {
        "stg_own_numbers__numbers": "own_numbers/*.parquet",
        "stg_voicenter__time_witness": "voicenter_time_witness/**/*.parquet",
    }
    reads = pipeline["reads"]
    assert set(reads) == {
        "stg_kazoo__cdrs",
        "stg_pbx__cdrs",
        "stg_enigma__notifications",
        "stg_voicenter__cdrs",
        "stg_voicenter__time_witness",
        "stg_own_numbers__numbers",
    }
    for model, calls in reads.items():
        folder = model.removeprefix("stg_").split("__")[0]
        # the path, a comparison (union_by_name = true), another (hive_partitioning = false): nothing else
        assert calls == [[f"{lake}/{glob.get(model, folder + '/**/*.parquet')}", "COMPARISON", "COMPARISON"]], model


def test_freshness_reads_the_lake_listing_under_such_names(pipeline):
    # each source's loaded_at_query lists its lake folder (read_blob, the macro lake_files): files landed minutes
    # ago are fresh; a path the SQL misread would be a runtime error, or no file and no freshness
    results = {r["unique_id"].rsplit(".", 1)[0]: r["status"] for r in pipeline["freshness"]["results"]}
    assert results == {f"source.cdr_warehouse.{s}": "pass" for s in ("kazoo", "pbx", "enigma", "voicenter")}


def expected_group(path: Path, data: Path, masked_gid: int, files_gid: int) -> int:
    """What holds no number is in CDR_MASKED_GROUP, with the folders its readers go through; the rest, not."""
    masked_copy = {data / "warehouse_masked.duckdb", *(data / ".warehouse_masked.duckdb.slots" / s for s in "ab")}
    if path == data or path in masked_copy:
        return masked_gid
    if path.is_relative_to(data / "reports") or path.is_relative_to(data / "docs"):
        return masked_gid
    return files_gid


def check(paths: dict[Path, tuple[int, int, bool]], data: Path, groups, operator: dict[Path, tuple[int, int]]):
    files_gid, masked_gid, _ = groups
    wrong = {}
    for path, (mode, gid, is_dir) in paths.items():
        if path in operator:
            want = operator[path]
        elif is_dir:
            reach = path == data or path in (data / "reports", data / "docs")
            want = (0o750 if reach else 0o2750, expected_group(path, data, masked_gid, files_gid))
        else:
            secret = path.name == "number.salt"
            want = (0o600 if secret else 0o640, expected_group(path, data, masked_gid, files_gid))
        if mode & 0o007 or (mode, gid) != want:
            wrong[str(path.relative_to(data) if path.is_relative_to(data) else path)] = (oct(mode), gid, oct(want[0]))
    return wrong


def test_every_file_is_private_and_in_its_group_after_the_pipeline(pipeline):
    data = pipeline["data"]
    paths = pipeline["first"]
    # everything the pipeline writes was looked at: the lake (outside the data directory), landing, quarantine,
    # the build, the published copies, the docs, the report and the receiver's log
    names = {p.relative_to(data).parts[0] for p in paths if p.is_relative_to(data) and p != data}
    assert {"landing", "quarantine", "build", "docs", "reports", "logs", "warehouse.duckdb"} <= names
    assert "warehouse_masked.duckdb" in names and any(p.suffix == ".parquet" for p in paths)
    assert (data / "reports" / REPORT_DAY.isoformat() / "report.html") in paths
    assert check(paths, data, pipeline["groups"], {}) == {}


def test_a_rebuild_keeps_them_so_and_keeps_what_an_operator_gave_the_warehouse(pipeline):
    data = pipeline["data"]
    operator_gid = pipeline["groups"][2]
    rebuilt = pipeline["rebuilt"]
    warehouse = pipeline["warehouse"]
    assert rebuilt[warehouse][:2] == (0o600, operator_gid)
    # the target is a second name of the live slot; the full publish gave the other slot the same
    slots = data / ".warehouse.duckdb.slots"
    operator = {path: (0o600, operator_gid) for path in (warehouse, slots / "a", slots / "b")}
    assert check(rebuilt, data, pipeline["groups"], operator) == {}
