"""The analysts' copy: the warehouse with every column masked by what it means, not by what it is called.

Published beside ``warehouse.duckdb`` as ``warehouse_masked.duckdb`` after each build, the same way (a new file
renamed over the old one), for analysts who may count calls and repeat callers but not see who called.

Every published column is classified, once, where it is described: ``config: {meta: {personal: <class>}}`` on
the column in the dbt models' YAML (``dbt_project/models/marts/_marts__models.yml``), shown in the model's
documentation too. The classes (PERSONAL_CLASSES) say how the copy treats the column:

- ``number`` (a phone number, or the remote party as sent) and ``id`` (a source's id of a call, an agent or a
  queue: any of them may be a number) become ``h:`` and the first 16 hex digits of SHA-256(salt, value): stable
  from build to build and the same in every column, so counts, joins and repeat callers still work, and not
  reversible without the salt;
- ``free_text`` (words copied from a source: statuses, causes, names, routes, raw values) keeps its words, but
  every run of 3 or more digits, also when written with spaces, dashes, dots, brackets or a plus between them, is
  replaced by ``[digits]``; ``json_text`` (the IVR path: layer names and the DTMF callers keyed) does the same to
  every value of the JSON and stays valid JSON;
- ``drop`` (recording URLs, the per-leg list of raw values, the source's id of the record: ``cdr_key`` stands for
  it) is left out;
- ``key`` (an md5 key of a source and an id) and ``none`` (times, counts, codes, the model's own words) are
  copied as they are.

A ``hash_when`` condition beside ``free_text`` hashes the rows it holds for instead (``dq_unmapped.raw_value`` is
a number or an id on some rows, a word on others). A column nobody classified is left out of the copy, with a
warning, and fails tests/unit/test_masking.py and the planting test (tests/e2e/test_masking_planted.py), so a
column added later cannot reach the copy unmasked. All of it is DuckDB SQL over the rows that changed, each value
hashed once per row however many of its columns hold it (_masked_select): about what hashing the numbers alone
cost before (docs/analysts.md, "Who gets which file").

The salt is ``CDR_NUMBER_SALT`` (a secret in the environment); without it, one is made once and kept in
``build/number.salt`` (mode 0600), so hashes stay stable, and the log says so. The copy holds no number: it is in
``CDR_MASKED_GROUP`` (cdr.access), and an operator may open it wider than the warehouse itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cdr import access, config
from cdr.access import SECRET_MODE
from cdr.fsutil import atomic_write_bytes
from cdr.settings import settings
from cdr.warehouse import ducklake
from cdr.warehouse.duckfile import scalar, sql_string, sync_table, updated_database
from cdr.warehouse.publish import table_marks

log = logging.getLogger(__name__)

MASKED_NAME = "warehouse_masked.duckdb"
PERSONAL_CLASSES = {
    "none": "no personal data: copied",
    "key": "an md5 key of a source and an id: copied",
    "number": "a phone number: salted hash",
    "id": "a source's id (it may be a number): salted hash",
    "free_text": "text from a source: runs of 3+ digits replaced by [digits]",
    "json_text": "JSON from a source: runs of 3+ digits in every value replaced by [digits]",
    "drop": "left out",
}
HASHED = frozenset({"number", "id"})
# A run of 3 or more digits, also with what numbers are written with between them (+27 82 555 0199,
# 082-555-0199, (082) 555.0199, 0_8_2, DTMF's * and #): none of it is left for a number to be read from.
DIGIT_RUN = r"[+(]?[0-9]([\s().+/_:,*#-]*[0-9]){2,}"
DIGITS_TOKEN = "[digits]"
# The one published table dbt does not make (cdr.warehouse.publish.publish_warehouse writes it).
NOT_FROM_DBT = {("main", "build_info"): {"published_at": "none", "build_database": "none"}}
PUBLISHED_SCHEMA = "marts"


@dataclass(frozen=True)
class Rule:
    personal: str
    hash_when: str | None = None


class MaskingError(ValueError):
    """A column's classification cannot be applied (an unknown class): nothing is published."""


def masked_path() -> Path:
    return config.data_dir() / MASKED_NAME


def number_salt() -> str:
    salt = settings().number_salt
    if salt is not None:
        return salt.get_secret_value()
    path = config.build_dir() / "number.salt"
    if not path.exists():
        atomic_write_bytes(path, secrets.token_hex(32).encode(), mode=SECRET_MODE)
        log.warning(
            "CDR_NUMBER_SALT is not set: made a salt for the analysts' copy in %s; set CDR_NUMBER_SALT "
            "(a secret) to choose it",
            path,
        )
    return path.read_text().strip()


def _column_rule(model: str, column: dict) -> Rule | None:
    meta = {**(column.get("meta") or {}), **((column.get("config") or {}).get("meta") or {})}
    if "personal" not in meta:
        return None
    rule = Rule(str(meta["personal"]), meta.get("hash_when"))
    if rule.personal not in PERSONAL_CLASSES:
        raise MaskingError(
            f"{model}.{column.get('name')}: personal: {rule.personal!r} is not one of {', '.join(PERSONAL_CLASSES)}"
        )
    if rule.hash_when and rule.personal != "free_text":
        raise MaskingError(f"{model}.{column.get('name')}: hash_when goes with personal: free_text only")
    return rule


def classification(project_dir: Path | None = None) -> dict[tuple[str, str], dict[str, Rule | None]]:
    """``{(schema, table): {column: Rule, or None where the column has no class}}`` of every published table,
    from the marts models' YAML (and NOT_FROM_DBT)."""
    import yaml

    project_dir = project_dir or config.DBT_PROJECT_DIR
    tables: dict[tuple[str, str], dict[str, Rule | None]] = {
        name: {column: Rule(personal) for column, personal in columns.items()} for name, columns in NOT_FROM_DBT.items()
    }
    # libyaml where it is built in: the pure-Python parser took half a demo's masked publish
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted((project_dir / "models" / PUBLISHED_SCHEMA).glob("*.yml")):
        text = path.read_text()
        if not re.search(r"^models:", text, re.M):
            continue  # unit tests
        for model in (yaml.load(text, Loader=loader) or {}).get("models") or []:
            tables[(PUBLISHED_SCHEMA, model["name"])] = {
                column["name"]: _column_rule(model["name"], column) for column in model.get("columns") or []
            }
    return tables


def rules_digest(rules: dict[tuple[str, str], dict[str, Rule | None]]) -> str:
    """What made a masked copy: the classes and the SQL that applies them. A copy made by other rules is copied
    whole, not patched (its unchanged rows were masked the old way)."""
    text = repr((sorted((k, sorted(v.items())) for k, v in rules.items()), DIGIT_RUN, DIGITS_TOKEN, _macros("")))
    return hashlib.sha256(text.encode()).hexdigest()


def _macros(salt: str) -> list[str]:
    """The masking functions, temporary macros of the publishing connection (the salt never lands in the copy)."""
    run = sql_string(DIGIT_RUN)
    return [
        f"create temp macro cdr_mask(x) as case when x is not null then "
        f"'h:' || left(sha256({sql_string(salt)} || ':' || x), 16) end",
        f"create temp macro cdr_mask_text(x) as regexp_replace(x, {run}, '{DIGITS_TOKEN}', 'g')",
        # one JSON value: left as it is unless its text holds a run, then the masked text as a JSON string
        f"create temp macro cdr_mask_json_value(v) as case when regexp_matches(v ->> '$', {run}) "
        f"then to_json(cdr_mask_text(v ->> '$')) else v end",
        # an object's values masked one by one, its keys kept
        "create temp macro cdr_mask_json_object(o) as to_json(map_from_entries(list_transform("
        "map_entries(cast(o as map(varchar, json))), "
        "lambda kv: {'key': kv.key, 'value': cdr_mask_json_value(kv.value)})))",
        # the IVR path is a list of flat layers: each layer masked, the shape kept; other JSON as one value
        "create temp macro cdr_mask_json(j) as case "
        "when j is null then null "
        "when json_type(j) = 'OBJECT' then cdr_mask_json_object(j) "
        "when json_type(j) = 'ARRAY' and list_bool_and(list_transform(cast(j as json[]), "
        "lambda e: json_type(e) = 'OBJECT')) is not false "
        "then to_json(list_transform(cast(j as json[]), lambda e: cdr_mask_json_object(e))) "
        "else cdr_mask_json_value(j) end",
    ]


def _text(column: str, data_type: str) -> str:
    quoted = f'"{column}"'
    return quoted if data_type in ("VARCHAR", "JSON") else f"{quoted}::varchar"


def _expression(column: str, rule: Rule, data_type: str) -> str:
    """The masked value of a column that is not hashed whole (those are _masked_select's)."""
    text = _text(column, data_type)
    if rule.personal == "free_text":
        masked = f"cdr_mask_text({text})"
        if rule.hash_when:
            masked = f"case when {rule.hash_when} then cdr_mask({text}) else {masked} end"
        return masked
    if rule.personal == "json_text":
        return f"case when json_valid({text}) then cdr_mask_json({text}::json) else to_json(cdr_mask_text({text})) end"
    return f'"{column}"'


def _masked_select(con, schema: str, table: str, rules: dict[str, Rule | None]) -> tuple[str | None, list[str]]:
    """The select that masks one published table, and the columns it leaves out for want of a class.

    Hashing is most of a masked copy's cost, and a row often holds one value in several hashed columns (the
    remote number is the caller's or the callee's; a number sent in E.164 is its own E.164; an agent's id is the
    extension that called). So each hashed column is hashed only where it differs from every hashed column before
    it (the inner select), and otherwise takes that column's hash (the outer one): the same hash, computed once."""
    columns = con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = 'published' "
        "and schema_name = ? and table_name = ? order by column_index",
        [schema, table],
    ).fetchall()
    outer: list[str] = []
    unclassified: list[str] = []
    hashed: list[tuple[str, str]] = []
    for column, data_type in columns:
        rule = rules.get(column)
        if rule is None:
            unclassified.append(column)
        elif rule.personal in HASHED:
            hashed.append((f"__cdr_hash_{len(hashed)}", _text(column, data_type)))
            name, text = hashed[-1]
            earlier = hashed[:-1]
            reuse = "".join(f"when {text} = {other} then {h} " for h, other in earlier)
            outer.append(f'case {reuse}else {name} end as "{column}"' if reuse else f'{name} as "{column}"')
        elif rule.personal != "drop":
            outer.append(f'{_expression(column, rule, data_type)} as "{column}"')
    if not outer:
        return None, unclassified
    inner = [
        f"case when {text} in ({', '.join(other for _, other in hashed[:i])}) then null else cdr_mask({text}) end "
        f"as {name}"
        if i
        else f"cdr_mask({text}) as {name}"
        for i, (name, text) in enumerate(hashed)
    ]
    source = f'published."{schema}"."{table}"'
    if inner:
        source = f"(select *, {', '.join(inner)} from {source})"
    return f"select {', '.join(outer)} from {source}", unclassified


def _describe(con, rules: dict[tuple[str, str], dict[str, Rule | None]]) -> None:
    """The published descriptions, a masked column's saying how (``select comment from duckdb_columns()``); only
    what differs from what the copy holds is written."""
    for schema, table, described, held in con.execute(
        "select c.schema_name, c.table_name, p.comment, c.comment from duckdb_tables() c "
        "join duckdb_tables() p on p.database_name = 'published' and p.schema_name = c.schema_name "
        "and p.table_name = c.table_name where c.database_name = current_database()"
    ).fetchall():
        if described != held:
            text = sql_string(described) if described else "null"
            con.execute(f'comment on table "{schema}"."{table}" is {text}')
    for schema, table, column, described, held in con.execute(
        "select c.schema_name, c.table_name, c.column_name, p.comment, c.comment from duckdb_columns() c "
        "left join duckdb_columns() p on p.database_name = 'published' and p.schema_name = c.schema_name "
        "and p.table_name = c.table_name and p.column_name = c.column_name "
        "where c.database_name = current_database()"
    ).fetchall():
        rule = rules[(schema, table)][column]
        assert rule is not None  # the copy holds only the columns somebody classified (_masked_select)
        wanted = described
        if rule.personal not in ("none", "key"):
            note = f"(masked copy: {PERSONAL_CLASSES[rule.personal]}"
            note += f"; hashed where {rule.hash_when})" if rule.hash_when else ")"
            wanted = f"{described} {note}" if described else note
        if wanted != held:
            text = sql_string(wanted) if wanted else "null"
            con.execute(f'comment on column "{schema}"."{table}"."{column}" is {text}')


def publish_masked(
    warehouse: Path | None = None,
    target: Path | None = None,
    salt: str | None = None,
    lineage: str | None = None,
    keys: dict[str, str] | None = None,
    lookback_hours: float = 0.0,
    rules: dict[tuple[str, str], dict[str, Rule | None]] | None = None,
) -> dict:
    """Copy every table of the published warehouse into the masked copy, each column as ``rules`` (default: the
    models' classification) says.

    With a ``lineage`` and the incremental tables' ``keys`` (as cdr.warehouse.publish.publish_warehouse), a masked copy
    of the same lineage, salt and rules is brought up to date by the rows that changed (masking is row by row,
    so the masked rows of unchanged legs are unchanged); otherwise every table is copied."""
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
    rules = classification() if rules is None else rules
    keys = (keys or {}) if lineage else {}
    # which salt made the copy, without the salt itself
    salt_digest = hashlib.sha256(f"cdr-masked-copy:{salt}".encode()).hexdigest()
    digest = rules_digest(rules)
    counts: dict[str, int] = {}
    with duckdb.connect() as probe:
        attach_published(probe)
        marks = table_marks(probe, "published", keys)
    meta = {"kind": "masked", "lineage": lineage, "salt": salt_digest, "rules": digest, "marks": marks}

    def accept(held: dict) -> bool:
        return (
            lineage is not None
            and held.get("kind") == "masked"
            and held.get("lineage") == lineage
            and held.get("salt") == salt_digest
            and held.get("rules") == digest
        )

    unclassified: list[str] = []
    # No number in it: its group may be a wider one (CDR_MASKED_GROUP), and an operator may open it to others.
    access.reach(target.parent)
    with updated_database(target, meta, accept, group=access.masked_group(), holds_numbers=False) as (con, held):
        attach_published(con)
        for macro in _macros(salt):
            con.execute(macro)
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'published' order by all"
        ).fetchall()
        selects = {}
        for schema, table in tables:
            table_rules = rules.get((schema, table), {})
            select, left_out = _masked_select(con, schema, table, table_rules)
            unclassified += [f"{schema}.{table}.{column}" for column in left_out]
            if select:
                selects[(schema, table)] = select
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall():
            if (schema, table) not in selects:
                con.execute(f'drop table "{schema}"."{table}"')
        for (schema, table), select in selects.items():
            name = f"{schema}.{table}"
            sync_table(
                con,
                schema,
                table,
                select,
                key=keys.get(name),
                since=(held or {}).get("marks", {}).get(name),
                lookback_hours=lookback_hours,
            )
            counts[name] = scalar(con, f'select count(*) from "{schema}"."{table}"')
        _describe(con, rules)
        con.execute("detach published")
    if unclassified:
        log.warning(
            "the masked copy leaves out %d column(s) whose personal data nobody classified: %s; classify each "
            "(config: meta: personal) in the model's YAML",
            len(unclassified),
            ", ".join(unclassified),
        )
    log.info("published the analysts' masked copy %s (%d tables, each column masked by its class)", target, len(counts))
    return counts
