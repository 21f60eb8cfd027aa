"""Nothing the warehouse publishes changes unnoticed: every published relation of the four-source demo warehouse
(the session's `warehouse` fixture) against a checked-in fingerprint: its columns with their types, its row count
and the md5 of its rows as JSON, sorted (a multiset: a row twice where it was once differs).

What depends on when the test runs is left out, and only that: `extracted_at` (when a record was read), the
times of the Enigma c2d notifications, which carry none (the drain time stands in: `started_at` = `extracted_at`),
and so every date from the day the test runs (dim_date spans the first call to the last), and main.build_info
(when it was published).

A change that is meant to change what the warehouse publishes regenerates the file, and says so in its commit:
`CDR_UPDATE_FINGERPRINT=1 .venv/bin/python -m pytest tests/e2e/test_warehouse_fingerprint.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
FINGERPRINT = Path(__file__).with_name("demo_warehouse_fingerprint.json")
# The demo data's days end here; anything later was stamped by the run (a c2d notification's drain time).
DEMO_END = "timestamptz '2026-11-22 00:00:00+00'"
RUN_TIME = f"(started_at >= {DEMO_END})"

# Per relation, the columns as fingerprinted: `replace` of what depends on the run, `where` to drop rows that do.
NORMALISED = {
    "marts.fct_cdr": (
        f"""* exclude (extracted_at) replace (
        case when {RUN_TIME} then null else started_at end as started_at,
        case when {RUN_TIME} then null else ended_at end as ended_at,
        case when {RUN_TIME} then null else date_key end as date_key,
        case when {RUN_TIME} then null else started_hour_utc end as started_hour_utc,
        case when {RUN_TIME} then null else started_at_local end as started_at_local,
        case when {RUN_TIME} then null else local_date end as local_date,
        case when {RUN_TIME} then null else local_hour end as local_hour)""",
        None,
    ),
    "marts.fct_call": (
        f"""* exclude (extracted_at) replace (
        case when {RUN_TIME} then null else started_at end as started_at,
        case when {RUN_TIME} then null else ended_at end as ended_at,
        case when {RUN_TIME} then null else date_key end as date_key,
        case when {RUN_TIME} then null else started_hour_utc end as started_hour_utc,
        case when {RUN_TIME} then null else started_at_local end as started_at_local,
        case when {RUN_TIME} then null else local_date end as local_date,
        case when {RUN_TIME} then null else local_hour end as local_hour)""",
        None,
    ),
    "marts.dim_agent": (
        f"""* replace (
        case when first_seen_at >= {DEMO_END} then null else first_seen_at end as first_seen_at,
        case when last_seen_at >= {DEMO_END} then null else last_seen_at end as last_seen_at)""",
        None,
    ),
    "marts.dim_date": ("*", f"date_key < {DEMO_END}::date"),
    # a lag is measured to the moment of extraction: only how many legs each day has is the demo's own
    "marts.agg_ingest_lag": ("* exclude (p50_lag_seconds, p95_lag_seconds, max_lag_seconds)", None),
    "marts.dq_unmapped": (
        f"* replace (case when date_key >= {DEMO_END}::date then null else date_key end as date_key)",
        None,
    ),
    # a click-to-dial is dated by its drain: its day, and a call-back it makes, are the run's
    "marts.agg_route_daily": (
        f"* replace (case when date_key >= {DEMO_END}::date then null else date_key end as date_key)",
        None,
    ),
    "marts.agg_agent_daily": (
        f"* replace (case when date_key >= {DEMO_END}::date then null else date_key end as date_key)",
        None,
    ),
    "marts.fct_inbound_call": (
        f"""* exclude (extracted_at) replace (
        case when {RUN_TIME} then null else started_at end as started_at,
        case when {RUN_TIME} then null else local_date end as local_date,
        case when {RUN_TIME} then null else local_hour end as local_hour,
        case when next_inbound_at >= {DEMO_END} then null else next_inbound_at end as next_inbound_at,
        case when next_outbound_at >= {DEMO_END} then null else next_outbound_at end as next_outbound_at)""",
        None,
    ),
}
LEFT_OUT = {"main.build_info"}


def fingerprint(con) -> dict:
    relations = {}
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
        "union all select schema_name, view_name from duckdb_views() where not internal "
        "and database_name = current_database() order by all"
    ).fetchall():
        name = f"{schema}.{table}"
        if name in LEFT_OUT:
            continue
        columns = con.execute(
            "select column_name || ' ' || data_type from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, table],
        ).fetchall()
        select, where = NORMALISED.get(name, ("*", None))
        rows, digest = con.execute(
            f"select count(*), md5(coalesce(string_agg(line, chr(10) order by line), '')) from ("
            f'select to_json(t)::varchar as line from (select {select} from "{schema}"."{table}"'
            f"{' where ' + where if where else ''}) as t)"
        ).fetchall()[0]  # fetched whole: DuckDB keeps a connection busy with a result partly fetched
        relations[name] = {"columns": [c for (c,) in columns], "rows": rows, "md5": digest}
    return relations


def test_the_published_warehouse_is_the_fingerprinted_one(warehouse):
    found = fingerprint(warehouse)
    if os.environ.get("CDR_UPDATE_FINGERPRINT"):
        FINGERPRINT.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    expected = json.loads(FINGERPRINT.read_text())
    assert set(found) == set(expected), "published relations differ"
    differ = {
        name: {"expected": expected[name], "found": found[name]} for name in expected if found[name] != expected[name]
    }
    assert not differ, json.dumps(differ, indent=1)


def test_the_fingerprint_sees_a_changed_value(warehouse):
    """A single changed value of a column that counts changes the relation's fingerprint."""
    import duckdb

    con = duckdb.connect()
    con.execute("create schema marts")
    table = warehouse.cursor().sql("select * from marts.fct_cdr").to_arrow_table()
    con.register("source_fct_cdr", table)
    con.execute("create table marts.fct_cdr as select * from source_fct_cdr")
    before = fingerprint(con)["marts.fct_cdr"]
    con.execute(
        "update marts.fct_cdr set talk_seconds = talk_seconds + 1 "
        "where cdr_key = (select min(cdr_key) from marts.fct_cdr where talk_seconds is not null)"
    )
    after = fingerprint(con)["marts.fct_cdr"]
    assert before["rows"] == after["rows"] and before["md5"] != after["md5"]
    con.execute("update marts.fct_cdr set extracted_at = extracted_at + interval 1 day")
    assert fingerprint(con)["marts.fct_cdr"] == after  # run time only
