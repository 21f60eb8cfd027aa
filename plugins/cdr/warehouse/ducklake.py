"""The warehouse as a DuckLake: the catalog in PostgreSQL, the tables as Parquet under a local or object-storage
path, attached read-only by analysts, the report and any DuckDB client on any machine.

Chosen by configuration (docs/scale-out.md): with ``CDR_WAREHOUSE_CATALOG`` set, ``cdr_warehouse`` publishes its
build into the DuckLake instead of ``warehouse.duckdb`` (which stays the default).

- ``CDR_WAREHOUSE_CATALOG``: the DuckLake catalog, as DuckDB's ``ATTACH 'ducklake:…'`` takes it, e.g.
  ``postgres:dbname=cdr_warehouse host=pg.internal user=cdr`` (the password from libpq's ``PGPASSWORD`` or
  ``~/.pgpass``, never here). The ``ducklake:`` prefix may be given or left out.
- ``CDR_WAREHOUSE_DATA_PATH``: where its Parquet files go, when the catalog is created (``s3://bucket/prefix/``
  or a directory; default ``ducklake/`` under ``CDR_DATA_DIR``). The catalog records it: readers need only the
  catalog. S3 credentials come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for a non-AWS server).

Why dbt does not write the DuckLake itself: dbt commits model by model (two threads), so a reader attached during
a build would see some marts new and others old. dbt keeps building in its own database under build/; the publish
copies the marts into the DuckLake in ONE transaction, which is one DuckLake snapshot: a reader sees the last
complete build, never half of one, and never blocks a build (DuckLake readers take no locks; they read the
catalog's snapshot and the Parquet files it names). After an incremental build the publish writes only the rows
that changed (cdr.warehouse.duckfile.sync_table, as for the file): no copy of the warehouse per publish. Each build's
snapshot carries the commit message ``cdr build`` and, in ``extra_info``, its lineage, marks and publish time, so
analysts can list builds (``from warehouse.snapshots()``) and query an earlier one (``at (version => N)``).

Extensions: DuckDB loads ``ducklake``, ``postgres_scanner`` and ``httpfs`` from its extension repository as usual.
Where the Python packages ``duckdb-extension-<name>`` are installed (air-gapped sites, the tests) they are loaded
from there instead; each must be built for the very DuckDB version installed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cdr import config
from cdr.access import ensure_dir
from cdr.settings import settings
from cdr.warehouse.duckfile import scalar, sql_string
from cdr.warehouse.publish import sync_marts, table_marks

log = logging.getLogger(__name__)

# The name analysts see the tables under, as with the file (cdr.warehouse.publish.PUBLISHED_DATABASE).
ALIAS = "warehouse"
COMMIT_AUTHOR = "cdr"
COMMIT_MESSAGE = "cdr build"


class DuckLakeError(RuntimeError):
    pass


def catalog() -> str | None:
    """The DuckLake catalog (without ``ducklake:``), or None: the warehouse is the file, the default."""
    value = settings().warehouse_catalog.strip()
    if not value:
        return None
    return value[len("ducklake:") :] if value.lower().startswith("ducklake:") else value


def enabled() -> bool:
    return catalog() is not None


def data_path() -> str:
    value = settings().warehouse_data_path.strip()
    if not value:
        value = str(config.data_dir() / "ducklake")
    if "://" not in value:
        ensure_dir(Path(value))
    return value.rstrip("/") + "/"


def _packaged_extension(name: str) -> str | None:
    """The extension file a ``duckdb-extension-<name>`` package holds for this DuckDB, if installed."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = duckdb.__version__
    for root in spec.submodule_search_locations:
        candidate = Path(root) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
        if candidate.exists():
            return str(candidate)
    return None


def load_extensions(con: duckdb.DuckDBPyConnection, *, s3: bool = False) -> None:
    loaded = {row[0] for row in con.execute("select extension_name from duckdb_extensions() where loaded").fetchall()}
    for name in ("postgres_scanner", "ducklake", *(("httpfs",) if s3 else ())):
        if name in loaded:
            continue
        path = _packaged_extension(name)
        try:
            con.execute(f"load {sql_string(path)}" if path else f"load {name}")
        except duckdb.Error as error:
            raise DuckLakeError(
                f"DuckDB {duckdb.__version__} cannot load its {name} extension ({error}). Install it "
                f"(`INSTALL {name}` with network access, or the PyPI package duckdb-extension-"
                f"{name.replace('_', '-')}=={duckdb.__version__})"
            ) from error


def _s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """A DuckDB S3 secret from the environment (the same variables boto and pyarrow read)."""
    # the S3-specific endpoint first, as AWS tools and cdr.lake.objectstore take it
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    parts = ["type s3"]
    for option, variable in (
        ("key_id", "AWS_ACCESS_KEY_ID"),
        ("secret", "AWS_SECRET_ACCESS_KEY"),
        ("region", "AWS_REGION"),
        ("session_token", "AWS_SESSION_TOKEN"),
    ):
        if os.environ.get(variable):
            parts.append(f"{option} {sql_string(os.environ[variable])}")
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        parts.append(f"endpoint {sql_string(host.rstrip('/'))}")
        parts.append(f"use_ssl {'true' if scheme == 'https' else 'false'}")
        parts.append("url_style 'path'")
    # TEMPORARY, not TEMP: DuckDB's parser takes only the long word for a secret
    con.execute(f"create or replace temporary secret cdr_warehouse_s3 ({', '.join(parts)})")


def attach(
    con: duckdb.DuckDBPyConnection,
    *,
    read_only: bool = True,
    snapshot: int | None = None,
    alias: str = ALIAS,
) -> None:
    """Attach the configured DuckLake as ``alias`` (read-only unless told; at ``snapshot`` if given)."""
    where = catalog()
    if where is None:
        raise DuckLakeError("CDR_WAREHOUSE_CATALOG is not set: the warehouse is the file warehouse.duckdb")
    path = data_path()
    s3 = path.startswith("s3://")
    load_extensions(con, s3=s3)
    if s3:
        _s3_secret(con)
    options = ["read_only"] if read_only else [f"data_path {sql_string(path)}"]
    if snapshot is not None:
        options.append(f"snapshot_version {int(snapshot)}")
    con.execute(f"attach {sql_string('ducklake:' + where)} as {alias} ({', '.join(options)})")


def connect(*, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only session on the DuckLake warehouse, its tables by the names they have in the file
    (``marts.fct_cdr``, ``main.build_info``)."""
    con = duckdb.connect()
    attach(con, read_only=True, snapshot=snapshot)
    con.execute(f"use {ALIAS}")
    return con


def builds(con: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> list[dict]:
    """The snapshots builds committed, oldest first: ``{"snapshot": id, "at": time, **extra_info}``."""
    rows = con.execute(
        f"select snapshot_id, snapshot_time, commit_extra_info from {alias}.snapshots() "
        "where author = ? and commit_message = ? order by snapshot_id",
        [COMMIT_AUTHOR, COMMIT_MESSAGE],
    ).fetchall()
    return [{"snapshot": sid, "at": at, **json.loads(extra or "{}")} for sid, at, extra in rows]


def publish(
    build_db: Path, lineage: str | None = None, keys: dict[str, str] | None = None, lookback_hours: float = 0.0
) -> dict:
    """Publish the build's marts into the DuckLake as one snapshot; returns the row counts and the snapshot.

    With a ``lineage`` equal to the one the last build's snapshot records, the incremental tables (``keys``) are
    updated by the rows changed since that build's marks, the others replaced whole; otherwise every table is."""
    keys = (keys or {}) if lineage else {}
    counts: dict[str, int] = {}
    modes: dict[str, str] = {}
    with duckdb.connect() as con:
        con.execute(f"attach {sql_string(build_db)} as build (read_only)")
        marks = table_marks(con, "build", keys)
        attach(con, read_only=False)
        history = builds(con)
        held = history[-1] if history and lineage and history[-1].get("lineage") == lineage else None
        con.execute(f"use {ALIAS}")
        published_at = datetime.now(UTC)
        # One transaction, one snapshot: readers see all of this build or none of it.
        con.execute("begin")
        try:
            since = (held or {}).get("marks", {})
            sync_marts(con, keys, since, lookback_hours, modes, counts, keep=(("main", "build_info"),))
            con.execute(
                "create or replace table main.build_info as "
                "select ?::timestamptz as published_at, ?::varchar as build_database",
                [published_at, str(build_db)],
            )
            extra = {"lineage": lineage, "marks": marks, "published_at": published_at.isoformat()}
            con.execute(
                f"call {ALIAS}.set_commit_message(?, ?, extra_info => ?)",
                [COMMIT_AUTHOR, COMMIT_MESSAGE, json.dumps(extra)],
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        snapshot = scalar(con, f"select id from {ALIAS}.current_snapshot()")
    log.info(
        "published DuckLake snapshot %s of %s: %s (%s)",
        snapshot,
        catalog(),
        counts,
        ", ".join(f"{name} {mode}" for name, mode in modes.items()),
    )
    return {"snapshot": snapshot, "counts": counts, "modes": modes}


def open_published(warehouse: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only session on the published warehouse: the file ``warehouse`` when given, else the configured
    target (the DuckLake when CDR_WAREHOUSE_CATALOG is set, else warehouse.duckdb)."""
    if warehouse is None and enabled():
        return connect()
    return duckdb.connect(str(warehouse or config.warehouse_path()), read_only=True)


def published_exists(warehouse: Path | None = None) -> bool:
    """Whether a build has been published to the target ``open_published`` opens."""
    if warehouse is None and enabled():
        try:
            with connect() as con:
                return bool(builds(con))
        except (duckdb.Error, DuckLakeError) as error:
            log.info("the DuckLake warehouse cannot be read yet: %s", error)
            return False
    return (warehouse or config.warehouse_path()).exists()
