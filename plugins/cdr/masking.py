"""The analysts' copy: the warehouse with every phone number salted-hashed and every recording URL dropped.

Published beside ``warehouse.duckdb`` as ``warehouse_masked.duckdb`` after each build, the same way (a new file
renamed over the old one), for analysts who may count calls and repeat callers but not see who called. A number
becomes ``h:`` and the first 16 hex digits of SHA-256(salt, number): stable from build to build, so counts,
joins and repeat callers still work, and not reversible without the salt. The salt is ``CDR_NUMBER_SALT`` (a
secret in the environment); without it, one is made once and kept in ``build/number.salt`` (mode 0600), so
hashes stay stable, and the log says so. The copy holds no number: it is in ``CDR_MASKED_GROUP`` (cdr.access), and
an operator may open it wider than the warehouse itself.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import duckdb

from cdr import access, config
from cdr.access import SECRET_MODE
from cdr.duckfile import sql_string, sync_table, updated_database
from cdr.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

MASKED_NAME = "warehouse_masked.duckdb"
# Columns that hold a phone number, in any published table; masked wherever they appear.
NUMBER_COLUMNS = frozenset(
    {
        "caller_number",
        "callee_number",
        "remote_number",
        "remote_party",
        "caller_number_as_sent",
        "callee_number_as_sent",
    }
)
# Columns that could lead to the call itself, or quote a number among other raw values: not in the copy.
DROPPED_COLUMNS = frozenset({"recording_url", "unmapped_values"})


def masked_path() -> Path:
    return config.data_dir() / MASKED_NAME


def number_salt() -> str:
    salt = os.environ.get("CDR_NUMBER_SALT")
    if salt:
        return salt
    path = config.build_dir() / "number.salt"
    if not path.exists():
        atomic_write_bytes(path, secrets.token_hex(32).encode(), mode=SECRET_MODE)
        log.warning(
            "CDR_NUMBER_SALT is not set: made a salt for the analysts' copy in %s; set CDR_NUMBER_SALT "
            "(a secret) to choose it",
            path,
        )
    return path.read_text().strip()


def _masked_select(con, schema: str, table: str) -> str:
    columns = con.execute(
        "select column_name from duckdb_columns() where database_name = 'published' and schema_name = ? "
        "and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()
    parts = []
    for (column,) in columns:
        if column in DROPPED_COLUMNS:
            continue
        if column in NUMBER_COLUMNS:
            parts.append(f'cdr_mask("{column}") as "{column}"')
        elif (schema, table, column) == ("marts", "dq_unmapped", "raw_value"):
            # the raw value of an outside number that did not parse is a number too
            parts.append(
                "case when affects = 'remote_country' then cdr_mask(raw_value) else raw_value end as raw_value"
            )
        else:
            parts.append(f'"{column}"')
    return f'select {", ".join(parts)} from published."{schema}"."{table}"'


def publish_masked(
    warehouse: Path | None = None,
    target: Path | None = None,
    salt: str | None = None,
    lineage: str | None = None,
    keys: dict[str, str] | None = None,
    lookback_hours: float = 0.0,
) -> dict:
    """Copy every table of the published warehouse into the masked copy, numbers hashed, recordings dropped.

    With a ``lineage`` and the incremental tables' ``keys`` (as cdr.warehouse.publish_warehouse), a masked copy
    of the same lineage and salt is brought up to date by the rows that changed (masking is row by row, so the
    masked rows of unchanged legs are unchanged); otherwise every table is copied."""
    import hashlib

    from cdr import ducklake
    from cdr.warehouse import table_marks

    # the published warehouse this copy masks: the DuckLake when it is the target (its newest snapshot, the
    # build just committed), else the file
    from_ducklake = warehouse is None and ducklake.enabled()
    warehouse = warehouse or config.warehouse_path()

    def attach_published(con) -> None:
        if from_ducklake:
            ducklake.attach(con, read_only=True, alias="published")
        else:
            con.execute(f"attach {sql_string(warehouse)} as published (read_only)")

    target = target or masked_path()
    salt = salt if salt is not None else number_salt()
    keys = (keys or {}) if lineage else {}
    # which salt made the copy, without the salt itself
    salt_digest = hashlib.sha256(f"cdr-masked-copy:{salt}".encode()).hexdigest()
    counts: dict[str, int] = {}
    with duckdb.connect() as probe:
        attach_published(probe)
        marks = table_marks(probe, "published", keys)
    meta = {"kind": "masked", "lineage": lineage, "salt": salt_digest, "marks": marks}

    def accept(held: dict) -> bool:
        return (
            lineage is not None
            and held.get("kind") == "masked"
            and held.get("lineage") == lineage
            and held.get("salt") == salt_digest
        )

    # No number in it: its group may be a wider one (CDR_MASKED_GROUP), and an operator may open it to others.
    access.reach(target.parent)
    with updated_database(target, meta, accept, group=access.masked_group(), holds_numbers=False) as (con, held):
        attach_published(con)
        # a macro, not a stored value: the salt never lands in the copy
        con.execute(
            "create temp macro cdr_mask(x) as case when x is not null then "
            f"'h:' || left(sha256({sql_string(salt)} || ':' || x), 16) end"
        )
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'published' order by all"
        ).fetchall()
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall():
            if (schema, table) not in tables:
                con.execute(f'drop table "{schema}"."{table}"')
        for schema, table in tables:
            name = f"{schema}.{table}"
            sync_table(
                con,
                schema,
                table,
                _masked_select(con, schema, table),
                key=keys.get(name),
                since=(held or {}).get("marks", {}).get(name),
                lookback_hours=lookback_hours,
            )
            counts[name] = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        con.execute("detach published")
    log.info(
        "published the analysts' masked copy %s (%d tables; numbers hashed, recording URLs dropped)",
        target,
        len(counts),
    )
    return counts
