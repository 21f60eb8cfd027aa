"""Publish what dbt built as the analysts' ``warehouse.duckdb``, and the model's documentation beside it.

dbt works in its own database under build/. Publishing copies the marts into a new file beside
warehouse.duckdb and renames it over the old one: an analyst who holds the old file open (read-only or not)
keeps reading the complete old build, new connections see the complete new one, and nobody blocks anybody.
After an incremental build, a copy of the same lineage is brought up to date by the rows that changed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cdr import access, config
from cdr.fsutil import atomic_write_bytes
from cdr.warehouse.dbt_runner import DbtError
from cdr.warehouse.duckfile import sql_string, sync_table, updated_database

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts",)


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
