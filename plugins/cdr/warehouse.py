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
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from cdr import config
from cdr.duckfile import new_database
from cdr.fsutil import atomic_write_bytes
from cdr.lake import ensure_schema_file
from cdr.masking import publish_masked
from cdr.sources import LAKE_TABLES

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
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
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


def run_dbt(*args: str, check: bool = True) -> int:
    """Run one dbt command on the project, streaming its output into the log."""
    build = config.build_dir()
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(config.data_dir()),
        "DBT_TARGET_PATH": str(build / "target"),
        "DBT_LOG_PATH": str(build / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    command = [
        dbt_executable(), *args,
        "--project-dir", str(config.DBT_PROJECT_DIR), "--profiles-dir", str(config.DBT_PROJECT_DIR),
    ]
    log.info("running: %s", " ".join(command))
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        command, cwd=config.DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            log.info("dbt: %s", line)
    if check and proc.returncode != 0:
        raise DbtError(f"dbt {args[0]} failed (exit {proc.returncode}):\n" + "\n".join(tail))
    return proc.returncode


def publish_warehouse(build_db: Path | None = None, target: Path | None = None) -> dict:
    """Copy the published schemas into a fresh file and atomically rename it over the warehouse."""
    build_db = build_db or config.build_dir() / "build.duckdb"
    target = target or config.warehouse_path()
    counts: dict[str, int] = {}
    with new_database(target) as con:
        con.execute("attach ? as build (read_only)", [str(build_db)])
        tables = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            "where database_name = 'build' and schema_name in (select unnest(?::varchar[])) order by all",
            [list(PUBLISHED_SCHEMAS)],
        ).fetchall()
        for schema, table, comment in tables:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create table "{schema}"."{table}" as select * from build."{schema}"."{table}"')
            counts[f"{schema}.{table}"] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            if comment:
                con.execute(f"comment on table \"{schema}\".\"{table}\" is '{_quote(comment)}'")
        for schema, table, column, comment in con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where database_name = 'build' and comment is not null and schema_name in (select unnest(?::varchar[]))",
            [list(PUBLISHED_SCHEMAS)],
        ).fetchall():
            con.execute(f"comment on column \"{schema}\".\"{table}\".\"{column}\" is '{_quote(comment)}'")
        con.execute(
            "create table main.build_info as select ?::timestamptz as published_at, ?::varchar as build_database",
            [datetime.now(timezone.utc), str(build_db)],
        )
        con.execute("detach build")
    log.info("published %s: %s", target, counts)
    return counts


def _quote(text: str) -> str:
    return text.replace("'", "''")


# The database analysts see the published tables in: DuckDB names an attached file after its stem, so a session
# on warehouse.duckdb has them as warehouse.marts.fct_cdr (or marts.fct_cdr), never as dbt's build.marts.fct_cdr.
PUBLISHED_DATABASE = "warehouse"


def published_relations(manifest: dict, catalog: dict, build_database: str = "build",
                        database: str = PUBLISHED_DATABASE) -> None:
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
    docs_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((target_dir / "manifest.json").read_text())
    catalog = json.loads((target_dir / "catalog.json").read_text())
    published_relations(manifest, catalog)
    manifest_json, catalog_json = json.dumps(manifest), json.dumps(catalog)
    index = (target_dir / "index.html").read_text()
    for placeholder in ('"MANIFEST.JSON INLINE DATA"', '"CATALOG.JSON INLINE DATA"'):
        if placeholder not in index:
            raise DbtError(f"{target_dir / 'index.html'} has no {placeholder}: cannot inline the docs")
    index = index.replace('"MANIFEST.JSON INLINE DATA"', manifest_json).replace(
        '"CATALOG.JSON INLINE DATA"', catalog_json)
    atomic_write_bytes(docs_dir / "manifest.json", manifest_json.encode())
    atomic_write_bytes(docs_dir / "catalog.json", catalog_json.encode())
    atomic_write_bytes(docs_dir / "index.html", index.encode())
    log.info("published the model's documentation: %s", docs_dir / "index.html")
    return docs_dir / "index.html"


# What new data changes: the fact and everything built from it. The views over the lake, the seeds and the static
# dimensions change only with the project's code. Data tests all run: those of the views check the new records.
DATA_MODELS = ("fct_cdr+",)
DATA_SELECTION = (*DATA_MODELS, "resource_type:test")


def project_fingerprint() -> str:
    """What the build's views, seeds and static tables are made from: the dbt project, the phone functions it
    calls, the lake's location and the versions of dbt and DuckDB. Equal fingerprints, equal relations."""
    import hashlib

    import dbt.version

    digest = hashlib.sha256()
    files = [p for p in sorted(config.DBT_PROJECT_DIR.rglob("*")) if p.is_file() and not p.name.startswith(".")
             and not {"target", "logs", "dbt_packages"} & set(p.relative_to(config.DBT_PROJECT_DIR).parts)]
    for path in [*files, config.PROJECT_ROOT / "plugins" / "cdr" / "phones.py",
                 config.PROJECT_ROOT / "plugins" / "cdr" / "dbt_plugin.py"]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{config.data_dir()}|{dbt.version.__version__}|{duckdb.__version__}".encode())
    return digest.hexdigest()


def dbt_build_arguments(full_refresh: bool = False) -> list[str]:
    """``dbt build`` of only what new data changes (the incremental fact and what depends on it) while the project is
    the one the last successful build ran; otherwise (first build, changed code, or on request) of everything
    from the whole lake, so that a changed rule applies to every leg, not only to new ones."""
    stamp = config.build_dir() / "project.fingerprint"
    if (not full_refresh and stamp.exists() and (config.build_dir() / "build.duckdb").exists()
            and stamp.read_text() == project_fingerprint()):
        return ["build", "--select", *DATA_SELECTION]
    return ["build", "--full-refresh"]


def build_and_publish(full_refresh: bool = False) -> dict:
    """``dbt build`` (models and tests), a freshness check that only warns, publish, then the docs.

    Builds are incremental (only what reached the lake since the last build is read); ``full_refresh``
    rebuilds every model from the whole lake, for when a model's logic changed.
    """
    with build_lock():
        for source, schema in LAKE_TABLES.items():
            ensure_schema_file(source, schema)
        fingerprint = project_fingerprint()
        run_dbt(*dbt_build_arguments(full_refresh))
        # Only after a successful build: a failed one leaves the next build to make everything again.
        atomic_write_bytes(config.build_dir() / "project.fingerprint", fingerprint.encode())
        if run_dbt("source", "freshness", check=False) != 0:
            log.warning("dbt source freshness reports a stale source (see above); the build is published anyway")
        counts = publish_warehouse()
        publish_masked()
        # Docs describe what was just published; the catalog reads the build database, not the analysts' copy.
        run_dbt("docs", "generate")
        publish_docs()
        return counts
