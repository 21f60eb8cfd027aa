"""Build the warehouse with dbt, then publish it as the analysts' ``warehouse.duckdb``.

dbt works in its own database under build/. Publishing copies the marts into a new file beside
warehouse.duckdb and renames it over the old one: an analyst who holds the old file open (read-only or not)
keeps reading the complete old build, new connections see the complete new one, and nobody blocks anybody.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import deque
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cdr import access, config
from cdr.fsutil import atomic_write_bytes
from cdr.lake import objectstore
from cdr.lake.writer import ensure_schema_file
from cdr.registry import lake_tables
from cdr.warehouse import ducklake
from cdr.warehouse.duckfile import sql_string, sync_table, updated_database
from cdr.warehouse.masking import publish_masked

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts",)


class DbtError(RuntimeError):
    pass


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed beside this Python nor on PATH: run `make install`")
    return found


@contextmanager
def build_lock(timeout: float = 3600.0):
    """One build at a time. flock dies with its process, so a killed build never leaves a stale lock."""
    path = config.build_dir() / ".build.lock"
    access.ensure_dir(path.parent)
    try:
        fd = access.create_file(path)
    except FileExistsError:
        fd = os.open(path, os.O_WRONLY)
    with open(fd, "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another warehouse build held {path} for {timeout:.0f}s") from None
                log.info("waiting for another warehouse build to finish")
                time.sleep(min(5.0, max(0.05, deadline - time.monotonic())))
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dbt_env() -> dict[str, str]:
    build = config.build_dir()
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(config.data_dir()),
        # absolute, as the staging sources read it (dbt runs in dbt_project/)
        "CDR_LAKE_URL": config.lake_url(),
        "DBT_TARGET_PATH": str(build / "target"),
        "DBT_LOG_PATH": str(build / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    if config.lake_on_object_store():
        # dbt has no Airflow context: the Connection's credentials reach its S3 filesystem as environment
        options = objectstore.s3_options()
        env.pop(objectstore.conn_env_var(os.environ.get("CDR_LAKE_CONN_ID") or objectstore.DEFAULT_CONN_ID), None)
        env.update(objectstore.subprocess_env(options))
    return env


def _project_args() -> list[str]:
    return ["--project-dir", str(config.DBT_PROJECT_DIR), "--profiles-dir", str(config.DBT_PROJECT_DIR)]


def _stream(command: list[str], tail: deque[str]) -> int:
    """Run ``command`` in the dbt project, every line of its output into the log and the last ones into ``tail``."""
    log.info("running: %s", " ".join(command))
    with subprocess.Popen(
        command, cwd=config.DBT_PROJECT_DIR, env=_dbt_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            log.info("dbt: %s", line)
    return proc.returncode


def run_dbt(*args: str, check: bool = True) -> int:
    """Run one dbt command on the project, streaming its output into the log."""
    tail: deque[str] = deque(maxlen=40)
    code = _stream([dbt_executable(), *args, *_project_args()], tail)
    if check and code != 0:
        raise DbtError(f"dbt {args[0]} failed (exit {code}):\n" + "\n".join(tail))
    return code


def run_dbt_batch(commands: list[tuple[list[str], bool]], dbt_vars: dict | None = None) -> dict:
    """Run dbt commands in order in one process that parses the project once (cdr.warehouse.dbt_batch), streaming
    their output into the log; ``dbt_vars`` go to every command. Stops at the first failing command whose
    ``check`` is true and raises; returns dbt_batch's report: ``exit`` and ``seconds`` of each command run,
    and ``parse``."""
    import json

    from cdr.warehouse.dbt_batch import RESULT_PREFIX

    common = _project_args()
    if dbt_vars:
        common += ["--vars", json.dumps(dbt_vars)]
    spec = {"common": common, "commands": [{"args": args, "check": check} for args, check in commands]}
    tail: deque[str] = deque(maxlen=40)
    code = _stream([sys.executable, "-m", "cdr.warehouse.dbt_batch", json.dumps(spec)], tail)
    result = next(
        (json.loads(line[len(RESULT_PREFIX) :]) for line in reversed(tail) if line.startswith(RESULT_PREFIX)), None
    )
    if result is None:
        raise DbtError(f"dbt (cdr.warehouse.dbt_batch) ended with exit {code} before reporting:\n" + "\n".join(tail))
    if "failed" in result:
        raise DbtError(f"dbt {result['failed']} failed (exit {result['exit'][-1]}):\n" + "\n".join(tail))
    for (args, check), command_code in zip(commands, result["exit"], strict=False):
        if check and command_code != 0:
            raise DbtError(f"dbt {args[0]} failed (exit {command_code}):\n" + "\n".join(tail))
    return result


def lake_lookback_hours() -> float:
    """The margin incremental builds read the lake again (dbt var lake_lookback_hours, dbt_project.yml)."""
    import yaml

    project = yaml.safe_load((config.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return float(project["vars"]["lake_lookback_hours"])


def incremental_keys(target_dir: Path | None = None) -> dict[str, str]:
    """``{"marts.fct_cdr": "cdr_key", ...}``: the published tables dbt builds incrementally, by their unique key
    (from the manifest of the last build): the tables a publish can update by the rows that changed."""
    import json

    manifest_path = (target_dir or config.build_dir() / "target") / "manifest.json"
    if not manifest_path.exists():
        return {}
    keys = {}
    for node in json.loads(manifest_path.read_text()).get("nodes", {}).values():
        conf = node.get("config", {})
        if (
            node.get("resource_type") == "model"
            and conf.get("materialized") == "incremental"
            and isinstance(conf.get("unique_key"), str)
            and node.get("schema") in PUBLISHED_SCHEMAS
        ):
            keys[f"{node['schema']}.{node.get('alias') or node['name']}"] = conf["unique_key"]
    return keys


def table_marks(con, database: str, keys: dict[str, str]) -> dict[str, str]:
    """The newest ``extracted_at`` of each incremental table: where the next publish's change starts."""
    marks = {}
    for name in keys:
        schema, table = name.split(".")
        newest = con.execute(f'select max(extracted_at)::varchar from {database}."{schema}"."{table}"').fetchone()[0]
        if newest is not None:
            marks[name] = newest
    return marks


def sync_marts(
    con,
    keys: dict[str, str],
    since: dict[str, str],
    lookback_hours: float,
    modes: dict[str, str],
    counts: dict[str, int],
    keep: tuple[tuple[str, str], ...] = (),
) -> None:
    """Make the current database's published schemas equal the attached ``build``'s, with their comments: the
    incremental tables (``keys``) by the rows changed since ``since`` (duckfile.sync_table), the others whole;
    tables an earlier build published that this one no longer has are dropped (except ``keep``). Fills ``modes``
    (how each table was brought up to date) and ``counts`` (its rows)."""
    tables = con.execute(
        "select schema_name, table_name, comment from duckdb_tables() "
        "where database_name = 'build' and schema_name in (select unnest(?::varchar[])) order by all",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    published = {(schema, table) for schema, table, _ in tables}
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
    ).fetchall():
        if (schema, table) not in published and (schema, table) not in keep:
            con.execute(f'drop table "{schema}"."{table}"')
    for schema, table, comment in tables:
        name = f"{schema}.{table}"
        modes[name] = sync_table(
            con,
            schema,
            table,
            f'select * from build."{schema}"."{table}"',
            key=keys.get(name),
            since=since.get(name),
            lookback_hours=lookback_hours,
        )
        counts[name] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        con.execute(f'comment on table "{schema}"."{table}" is {sql_string(comment) if comment else "null"}')
    for schema, table, column, comment in con.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns() "
        "where database_name = 'build' and comment is not null and schema_name in (select unnest(?::varchar[]))",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall():
        con.execute(f'comment on column "{schema}"."{table}"."{column}" is {sql_string(comment)}')


def publish_warehouse(build_db: Path | None = None, target: Path | None = None, lineage: str | None = None) -> dict:
    """Publish the build's marts as ``target``, atomically (cdr.warehouse.duckfile.updated_database).

    With a ``lineage`` (the id of the full build the build database descends from by incremental builds), a copy
    published from the same lineage is brought up to date by the rows the incremental tables changed (by
    ``extracted_at``, as the builds did) and the other tables replaced whole: a publish then costs what changed.
    Without one, or when no such copy is free, every table is copied."""
    build_db = build_db or config.build_dir() / "build.duckdb"
    target = target or config.warehouse_path()
    keys = incremental_keys() if lineage else {}
    lookback = lake_lookback_hours() if lineage else 0.0
    counts: dict[str, int] = {}
    modes: dict[str, str] = {}
    with duckdb.connect() as probe:
        probe.execute(f"attach {sql_string(build_db)} as build (read_only)")
        marks = table_marks(probe, "build", keys)
    meta = {"kind": "warehouse", "lineage": lineage, "marks": marks}

    def accept(held: dict) -> bool:
        return lineage is not None and held.get("kind") == "warehouse" and held.get("lineage") == lineage

    with updated_database(target, meta, accept) as (con, held):
        con.execute(f"attach {sql_string(build_db)} as build (read_only)")
        sync_marts(con, keys, (held or {}).get("marks", {}), lookback, modes, counts)
        con.execute(
            "create or replace table main.build_info as "
            "select ?::timestamptz as published_at, ?::varchar as build_database",
            [datetime.now(UTC), str(build_db)],
        )
        con.execute("detach build")
    log.info("published %s: %s (%s)", target, counts, ", ".join(f"{name} {mode}" for name, mode in modes.items()))
    return counts


# The database analysts see the published tables in: DuckDB names an attached file after its stem, so a session
# on warehouse.duckdb has them as warehouse.marts.fct_cdr (or marts.fct_cdr), never as dbt's build.marts.fct_cdr.
PUBLISHED_DATABASE = "warehouse"


def published_relations(
    manifest: dict, catalog: dict, build_database: str = "build", database: str = PUBLISHED_DATABASE
) -> None:
    """Name the published relations (schemas in PUBLISHED_SCHEMAS) as analysts open them, in place. The views
    and staging tables stay in dbt's build database, as they really are."""
    for node in [*manifest.get("nodes", {}).values(), *manifest.get("sources", {}).values()]:
        if node.get("database") == build_database and node.get("schema") in PUBLISHED_SCHEMAS:
            node["database"] = database
            if node.get("relation_name"):
                node["relation_name"] = node["relation_name"].replace(f'"{build_database}".', f'"{database}".', 1)
    for section in ("nodes", "sources"):
        for entry in catalog.get(section, {}).values():
            metadata = entry.get("metadata", {})
            if metadata.get("database") == build_database and metadata.get("schema") in PUBLISHED_SCHEMAS:
                metadata["database"] = database


def publish_docs(target_dir: Path | None = None, docs_dir: Path | None = None) -> Path:
    """``dbt docs generate`` output beside the warehouse: ``docs/index.html`` is the self-contained site
    (manifest and catalog inlined, as dbt's --static does), so it opens from disk with no server; the JSON files
    are there for tools. The published tables are named as analysts open them (published_relations)."""
    import json

    target_dir = target_dir or config.build_dir() / "target"
    docs_dir = docs_dir or config.docs_dir()
    # the model's description, no call in it: for the analysts of the masked copy too (cdr.access)
    group = access.masked_group()
    access.ensure_dir(docs_dir, group)
    access.reach(docs_dir)
    manifest = json.loads((target_dir / "manifest.json").read_text())
    catalog = json.loads((target_dir / "catalog.json").read_text())
    published_relations(manifest, catalog)
    manifest_json, catalog_json = json.dumps(manifest), json.dumps(catalog)
    index = (target_dir / "index.html").read_text()
    for placeholder in ('"MANIFEST.JSON INLINE DATA"', '"CATALOG.JSON INLINE DATA"'):
        if placeholder not in index:
            raise DbtError(f"{target_dir / 'index.html'} has no {placeholder}: cannot inline the docs")
    index = index.replace('"MANIFEST.JSON INLINE DATA"', manifest_json).replace(
        '"CATALOG.JSON INLINE DATA"', catalog_json
    )
    atomic_write_bytes(docs_dir / "manifest.json", manifest_json.encode(), group=group)
    atomic_write_bytes(docs_dir / "catalog.json", catalog_json.encode(), group=group)
    atomic_write_bytes(docs_dir / "index.html", index.encode(), group=group)
    log.info("published the model's documentation: %s", docs_dir / "index.html")
    return docs_dir / "index.html"


# What new data changes: the fact and everything built from it, every other mart table (a mart may read the
# views over the lake without the fact, as agg_voicenter_reconciliation does; the rest are small) and every other
# incremental table (int_voicenter__cdr_versions). The views and the seeds change only with the project's code.
# Data tests all run: those of the views check the new records. Unit tests do not read data: with the code
# unchanged (the fingerprint), their answer is too, so an incremental build leaves them to the full builds.
DATA_MODELS = ("fct_cdr+", "path:models/marts", "config.materialized:incremental")
DATA_SELECTION = (*DATA_MODELS, "resource_type:test")
NOT_DATA = ("resource_type:unit_test",)
# Tests an incremental build whose tests check only the changed rows leaves to the full and nightly builds: those
# of the intermediate views (tag in dbt_project.yml). A view's window over the whole lake runs before any filter,
# so such a test reads every leg ever pulled (80 of the 110 s of a build at 10M legs), while fct_cdr's own tests
# on the rows this build wrote prove the same of the new rows.
PROVED_DOWNSTREAM = ("tag:proved_downstream",)


def project_fingerprint() -> str:
    """What the build's views, seeds and static tables are made from: the dbt project, the phone functions it
    calls, the lake's location and the versions of dbt and DuckDB. Equal fingerprints, equal relations."""
    import hashlib

    import dbt.version

    digest = hashlib.sha256()
    files = [
        p
        for p in sorted(config.DBT_PROJECT_DIR.rglob("*"))
        if p.is_file()
        and not p.name.startswith(".")
        and not {"target", "logs", "dbt_packages"} & set(p.relative_to(config.DBT_PROJECT_DIR).parts)
    ]
    for path in [
        *files,
        config.PROJECT_ROOT / "plugins" / "cdr" / "phones.py",
        config.PROJECT_ROOT / "plugins" / "cdr" / "warehouse" / "dbt_plugin.py",
    ]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{config.data_dir()}|{dbt.version.__version__}|{duckdb.__version__}".encode())
    if os.environ.get("CDR_LAKE_URL"):
        digest.update(config.lake_url().encode())
    # The call centre's clock (macros/local_time.sql): a changed zone re-dates every leg, not only the new ones.
    zones = sorted(
        (k, v) for k, v in os.environ.items() if k == "CDR_SITE_TIMEZONE" or k.startswith("CDR_SITE_TIMEZONE_")
    )
    digest.update(repr(zones).encode())
    return digest.hexdigest()


def _tested_mark_path() -> Path:
    return config.build_dir() / "tests.watermark"


def _lineage_path() -> Path:
    return config.build_dir() / "lineage"


def tested_mark() -> str | None:
    """The newest ``extracted_at`` of fct_cdr after the last build whose data tests all passed (None: unknown)."""
    path = _tested_mark_path()
    return path.read_text().strip() or None if path.exists() else None


def dbt_build_arguments(full_refresh: bool = False, full_tests: bool = False) -> list[str]:
    """``dbt build`` of only what new data changes (the incremental fact and what depends on it) while the project is
    the one the last successful build ran; otherwise (first build, changed code, or on request) of everything
    from the whole lake, so that a changed rule applies to every leg, not only to new ones.

    An incremental build's data tests check only the rows read since the last build whose tests passed (the var
    ``tests_changed_since``; see dbt_project/macros/incremental_tests.sql), where that proves the same as
    checking every row; a full build checks every row, less the tests that fct_cdr's prove of every leg it
    holds (PROVED_DOWNSTREAM: at 10M legs they were a sixth of a full build, each reading the whole lake again);
    ``full_tests`` runs every test on every row."""
    import json

    stamp = config.build_dir() / "project.fingerprint"
    if (
        not full_refresh
        and stamp.exists()
        and (config.build_dir() / "build.duckdb").exists()
        and stamp.read_text() == project_fingerprint()
    ):
        mark = None if full_tests else tested_mark()
        if not mark:
            return ["build", "--select", *DATA_SELECTION, "--exclude", *NOT_DATA]
        return [
            "build",
            "--select",
            *DATA_SELECTION,
            "--exclude",
            *NOT_DATA,
            *PROVED_DOWNSTREAM,
            "--vars",
            json.dumps({"tests_changed_since": mark}),
        ]
    return ["build", "--full-refresh"] if full_tests else ["build", "--full-refresh", "--exclude", *PROVED_DOWNSTREAM]


def _split_vars(arguments: list[str]) -> tuple[list[str], dict | None]:
    """``dbt build`` arguments without their ``--vars``, and the vars (given to every command of the cycle)."""
    import json

    if "--vars" not in arguments:
        return arguments, None
    at = arguments.index("--vars")
    return [*arguments[:at], *arguments[at + 2 :]], json.loads(arguments[at + 1])


def _newest_leg(build_db: Path) -> str | None:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return con.execute("select max(extracted_at)::varchar from marts.fct_cdr").fetchone()[0]


def build_and_publish(full_refresh: bool = False, full_tests: bool = False) -> dict:
    """``dbt build`` (models and tests), a freshness check that only warns, publish, then the docs.

    Builds are incremental (only what reached the lake since the last build is read, and tested); ``full_refresh``
    rebuilds every model from the whole lake, for when a model's logic changed; ``full_tests`` tests every row
    (the nightly check: ``.venv/bin/python -c "from cdr.warehouse.build import build_and_publish;
    build_and_publish(full_tests=True)"``, or ``dbt test`` by hand). Publishing follows the build: after an
    incremental build, the published copies are updated by what changed. The time of each step is written to
    ``build/last_build.json``.
    """
    import json
    import uuid

    steps: dict[str, float] = {}

    def step(name: str, started: float) -> float:
        now = time.perf_counter()
        steps[name] = round(now - started, 3)
        return now

    # What dbt and DuckDB create (build.duckdb, dbt's artefacts, a DuckLake's files) is at most 0640/0750, in the
    # group of the folders made for it (cdr.access).
    with access.private_umask(), build_lock():
        began = clock = time.perf_counter()
        for source, schema in lake_tables().items():
            ensure_schema_file(source, schema)
        fingerprint = project_fingerprint()
        arguments = dbt_build_arguments(full_refresh, full_tests)
        incremental = "--full-refresh" not in arguments
        build_args, dbt_vars = _split_vars(arguments)
        # Docs describe what was just published; the catalog reads the build database, not the analysts' copy.
        # They change only with the project (the catalog holds names, types and descriptions, not row counts), so
        # an incremental build of unchanged code keeps the published ones.
        docs_stamp = config.build_dir() / "docs.fingerprint"
        docs_current = (
            incremental
            and docs_stamp.exists()
            and docs_stamp.read_text() == fingerprint
            and (config.docs_dir() / "index.html").exists()
        )
        commands = [(build_args, True), (["source", "freshness"], False)]
        if not docs_current:
            commands.append((["docs", "generate"], False))
        clock = step("prepare", clock)
        # One process for the three: the build must pass; a stale source only warns; docs that fail to generate
        # must not hold back a published build, so that is raised after the publish.
        ran = run_dbt_batch(commands, dbt_vars)
        codes = ran["exit"]
        # each command's own time, as the steps of a cycle are reported (bench/warehouse_build.py reads them)
        steps["dbt parse"] = ran["parse"]
        for name, seconds in zip(("dbt build", "freshness", "docs generate"), ran["seconds"], strict=False):
            steps[name] = seconds
        clock = time.perf_counter()
        # Only after a successful build: a failed one leaves the next build to make everything again, and to test
        # every row its failed tests saw.
        atomic_write_bytes(config.build_dir() / "project.fingerprint", fingerprint.encode())
        newest = _newest_leg(config.build_dir() / "build.duckdb")
        atomic_write_bytes(_tested_mark_path(), (newest or "").encode())
        lineage_path = _lineage_path()
        if not incremental or not lineage_path.exists():
            atomic_write_bytes(lineage_path, uuid.uuid4().hex.encode())
        lineage = lineage_path.read_text().strip()
        clock = step("record", clock)
        if codes[1] != 0:
            log.warning("dbt source freshness reports a stale source (see above); the build is published anyway")
        if ducklake.enabled():
            # the DuckLake target: one snapshot per build (cdr.warehouse.ducklake), instead of warehouse.duckdb
            published = ducklake.publish(
                config.build_dir() / "build.duckdb",
                lineage=lineage,
                keys=incremental_keys(),
                lookback_hours=lake_lookback_hours(),
            )
            counts, snapshot = published["counts"], published["snapshot"]
        else:
            counts, snapshot = publish_warehouse(lineage=lineage), None
        clock = step("publish", clock)
        publish_masked(lineage=lineage, keys=incremental_keys(), lookback_hours=lake_lookback_hours())
        clock = step("publish masked", clock)
        if docs_current:
            log.info("docs unchanged: the project is the one %s was generated from", config.docs_dir() / "index.html")
        elif codes[2] != 0:
            raise DbtError(f"dbt docs generate failed (exit {codes[2]}); the warehouse was published (see above)")
        else:
            publish_docs()
            atomic_write_bytes(docs_stamp, fingerprint.encode())
            step("docs publish", clock)
        steps["total"] = round(time.perf_counter() - began, 3)
        atomic_write_bytes(
            config.build_dir() / "last_build.json",
            json.dumps(
                {
                    "mode": "incremental" if incremental else "full",
                    "arguments": arguments,
                    "steps": steps,
                    "target": "ducklake" if snapshot is not None else "file",
                    **({"snapshot": snapshot} if snapshot is not None else {}),
                }
            ).encode(),
        )
        log.info("warehouse cycle (%s): %s", "incremental" if incremental else "full", steps)
        return counts
