"""The masked copy: every published column classified by what it means (the marts' YAML), and each class applied.

The end-to-end proof, numbers planted in every text field of every source and looked for in the masked copy and
the masked report, is tests/e2e/test_masking_planted.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import duckdb
import pytest
import yaml

from cdr import config
from cdr.warehouse.masking import PERSONAL_CLASSES, MaskingError, Rule, classification, publish_masked
from cdr.warehouse.publish import publish_warehouse

SALT = "unit-salt"


def hashed(value: str) -> str:
    return "h:" + hashlib.sha256(f"{SALT}:{value}".encode()).hexdigest()[:16]


def test_every_column_of_every_mart_is_classified():
    """A column described in the marts' YAML without `config: {meta: {personal: ...}}` would be left out of the
    masked copy; one not described at all fails the planting test, which compares the built tables."""
    tables = classification()
    marts = {table for schema, table in tables if schema == "marts"}
    models = {p.stem for p in (config.DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")} | {
        p.stem for p in (config.DBT_PROJECT_DIR / "models" / "marts").glob("*.py")
    }
    assert models <= marts, f"marts models without columns in YAML: {sorted(models - marts)}"
    unclassified = [f"{t}.{c}" for (_, t), columns in tables.items() for c, rule in columns.items() if rule is None]
    assert not unclassified, f"give each a class ({', '.join(PERSONAL_CLASSES)}): {unclassified}"
    assert all(columns for columns in tables.values())


def test_the_columns_that_hold_numbers_ids_or_source_text_are_masked():
    """The decisions issue 29 names, read back from the YAML (a reclassification must be deliberate)."""
    tables = classification()

    def personal(table, column):
        return tables[("marts", table)][column].personal

    for table, column in [
        ("fct_cdr", "caller_number"),
        ("fct_cdr", "callee_number_as_sent"),
        ("fct_cdr", "remote_number"),
        ("fct_cdr", "remote_party"),
        ("fct_call", "remote_number"),
        ("fct_inbound_call", "remote_number"),
    ]:
        assert personal(table, column) == "number", (table, column)
    for table, column in [("fct_cdr", "call_key"), ("fct_cdr", "agent_id"), ("dim_queue", "queue_id")]:
        assert personal(table, column) == "id", (table, column)
    for table, column in [
        ("fct_cdr", "route"),
        ("fct_cdr", "source_status"),
        ("fct_cdr", "hangup_cause"),
        ("fct_cdr", "agent_name"),
        ("dim_queue", "queue_name"),
        ("agg_route_daily", "route"),
        ("dq_unmapped", "raw_value"),
    ]:
        assert personal(table, column) == "free_text", (table, column)
    assert personal("fct_cdr", "ivr_path") == "json_text"
    assert {personal("fct_cdr", c) for c in ("recording_url", "unmapped_values")} == {"drop"}
    assert "remote_country" in tables[("marts", "dq_unmapped")]["raw_value"].hash_when


def copy_project(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(config.DBT_PROJECT_DIR / "models" / "marts", project / "models" / "marts")
    return project


def test_an_unknown_class_is_refused(tmp_path):
    project = copy_project(tmp_path)
    path = project / "models" / "marts" / "fct_cdr.yml"
    assert "personal: number}" in path.read_text()
    path.write_text(path.read_text().replace("personal: number}", "personal: phone}", 1))
    with pytest.raises(MaskingError, match="phone"):
        classification(project)


def test_a_column_added_without_a_class_is_found(tmp_path):
    project = copy_project(tmp_path)
    path = project / "models" / "marts" / "fct_call.yml"
    models = yaml.safe_load(path.read_text())
    models["models"][0]["columns"].append({"name": "new_column", "description": "added later"})
    path.write_text(yaml.safe_dump(models))
    assert classification(project)[("marts", models["models"][0]["name"])]["new_column"] is None


RULES = {
    ("marts", "legs"): {
        "key": Rule("key"),
        "n": Rule("none"),
        "caller": Rule("number"),
        "agent": Rule("id"),
        "remote": Rule("number"),
        "said": Rule("free_text"),
        "ivr": Rule("json_text"),
        "rec": Rule("drop"),
    },
    ("marts", "raw"): {"affects": Rule("none"), "raw_value": Rule("free_text", "affects = 'remote_country'")},
}


def make_warehouse(path, extra_column: bool = False) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.legs (key varchar, n integer, caller varchar, agent varchar, remote varchar, "
            "said varchar, ivr json, rec varchar" + (", secret varchar" if extra_column else "") + ")"
        )
        ivr = [
            {"layer_id": 1234, "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 2},
            {"layer_id": 77, "layer_name": "Callback (082) 555 0199", "Dtmf": "0825550199#"},
        ]
        con.execute(
            "insert into marts.legs values ('k1', 7, '+27825550199', '0825550199', '+27825550199', "
            "'call me on +27 82 555-0199 or 0 8 2 5 5 5 0 1 9 9 (x0825550199y) at 10:30, SIP 48', ?, 'https://r/1'"
            + (", 'the secret 0825550199'" if extra_column else "")
            + "), ('k2', null, null, null, '0825550199', null, null, null"
            + (", null" if extra_column else "")
            + ")",
            [json.dumps(ivr)],
        )
        con.execute(
            "create table marts.raw as select * from (values ('remote_country', '0825550199'), "
            "('status', 'WEIRD 0825550199')) t(affects, raw_value)"
        )


def test_each_class_is_applied(tmp_path):
    make_warehouse(tmp_path / "w.duckdb")
    publish_masked(tmp_path / "w.duckdb", tmp_path / "m.duckdb", salt=SALT, rules=RULES)
    with duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute("describe marts.legs").fetchall()]
        rows = con.execute("select * from marts.legs order by key").fetchall()
        ivr_valid = con.execute("select json_valid(ivr::varchar) from marts.legs where key = 'k1'").fetchone()[0]
        raw = con.execute("select affects, raw_value from marts.raw order by affects").fetchall()
        comment = con.execute(
            "select comment from duckdb_columns() where table_name = 'legs' and column_name = 'caller'"
        ).fetchone()[0]
    assert columns == ["key", "n", "caller", "agent", "remote", "said", "ivr"]
    key, n, caller, agent, remote, said, ivr = rows[0]
    # the remote party is the caller: hashed once, the same hash (and where it differs, its own)
    assert (key, n, caller, agent, remote) == ("k1", 7, hashed("+27825550199"), hashed("0825550199"), caller)
    # separators, spaces between single digits, a number inside a word, a time: all gone; a 2-digit code stays
    assert said == "call me on [digits] or [digits] (x[digits]y) at [digits], SIP 48"
    assert ivr_valid and json.loads(ivr) == [
        {"layer_id": "[digits]", "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 2},
        {"layer_id": 77, "layer_name": "Callback [digits]", "Dtmf": "[digits]#"},
    ]
    assert rows[1] == ("k2", None, None, None, hashed("0825550199"), None, None)
    assert raw == [("remote_country", hashed("0825550199")), ("status", "WEIRD [digits]")]
    assert "salted hash" in comment
    assert (
        b"5550199" not in (tmp_path / "m.duckdb").read_bytes()
        and SALT.encode() not in (tmp_path / "m.duckdb").read_bytes()
    )


def test_a_column_without_a_class_is_left_out_and_said(tmp_path, caplog):
    make_warehouse(tmp_path / "w.duckdb", extra_column=True)
    with caplog.at_level(logging.WARNING, logger="cdr.warehouse.masking"):
        publish_masked(tmp_path / "w.duckdb", tmp_path / "m.duckdb", salt=SALT, rules=RULES)
    with duckdb.connect(str(tmp_path / "m.duckdb"), read_only=True) as con:
        assert "secret" not in [r[0] for r in con.execute("describe marts.legs").fetchall()]
    assert "marts.legs.secret" in caplog.text
    # a table nobody classified at all is not in the copy
    only_raw = {("marts", "raw"): RULES[("marts", "raw")]}
    publish_masked(tmp_path / "w.duckdb", tmp_path / "m2.duckdb", salt=SALT, rules=only_raw)
    with duckdb.connect(str(tmp_path / "m2.duckdb"), read_only=True) as con:
        assert [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()] == ["raw"]


def test_a_copy_made_by_other_rules_is_made_again_whole(tmp_path, monkeypatch):
    """An incremental publish patches only the changed rows: rows masked by earlier rules must not stay."""
    import json as _json

    monkeypatch.setenv("CDR_DATA_DIR", str(tmp_path / "data"))
    target = config.build_dir() / "target"
    target.mkdir(parents=True)
    (target / "manifest.json").write_text(
        _json.dumps(
            {
                "nodes": {
                    "model.x.fct_cdr": {
                        "resource_type": "model",
                        "name": "fct_cdr",
                        "schema": "marts",
                        "config": {"materialized": "incremental", "unique_key": "cdr_key"},
                    }
                }
            }
        )
    )
    from cdr.warehouse.publish import incremental_keys

    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_cdr as select 'k' || range as cdr_key, 'Agent 0825550' || range as agent_name, "
            "timestamptz '2026-11-20 10:00:00+00' as extracted_at from range(5)"
        )
    warehouse, masked = tmp_path / "warehouse.duckdb", tmp_path / "masked.duckdb"
    publish_warehouse(build, warehouse, lineage="L1")
    copied = {("marts", "fct_cdr"): {"cdr_key": Rule("key"), "agent_name": Rule("none"), "extracted_at": Rule("none")}}
    masking = {**copied, ("marts", "fct_cdr"): {**copied[("marts", "fct_cdr")], "agent_name": Rule("free_text")}}
    # the second: other rules, same lineage, no row read since (a patch would change nothing); the third: a patch
    for rules in (copied, masking, masking):
        publish_masked(
            warehouse, masked, salt=SALT, lineage="L1", keys=incremental_keys(), lookback_hours=0, rules=rules
        )
        with duckdb.connect(str(masked), read_only=True) as con:
            names = [r[0] for r in con.execute("select agent_name from marts.fct_cdr order by all").fetchall()]
        expected = [f"Agent 0825550{i}" for i in range(5)] if rules is copied else ["Agent [digits]"] * 5
        assert names == expected
