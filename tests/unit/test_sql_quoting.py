"""Operator input reaches SQL as data: cdr.warehouse.duckfile.sql_string (and its dbt twin, the macro sql_string; the
whole build over such paths is tests/e2e/test_files_at_rest.py)."""

from __future__ import annotations

import duckdb
import pytest

from cdr.warehouse.duckfile import sql_string

HOSTILE = [
    "plain",
    "it's",
    "''",
    "'; drop table marts.fct_cdr; --",
    "back\\slash\\'",
    "new\nline",
    "$$dollar$$",
    "{name} {{braces}}",
    "/tmp/a b/../c",
    "ключ",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_literal_reads_back_as_the_very_text(text):
    with duckdb.connect() as con:
        assert con.execute(f"select {sql_string(text)}").fetchone()[0] == text
        # one expression, whatever it holds: nothing after it runs
        assert con.execute(f"select count(*) from (select {sql_string(text)} as v)").fetchone()[0] == 1


def test_a_database_in_a_folder_named_like_sql_is_attached_as_a_path(tmp_path):
    from cdr.warehouse.publish import publish_warehouse
    from tests.unit.test_publish import make_build

    folder = tmp_path / "o'neil's data; drop table x; --"
    folder.mkdir()
    make_build(folder / "build.duckdb", 4)
    counts = publish_warehouse(folder / "build.duckdb", folder / "it's the warehouse.duckdb")
    assert counts == {"marts.fct_cdr": 4}
    with duckdb.connect(str(folder / "it's the warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select build_database from main.build_info").fetchone()[0] == str(folder / "build.duckdb")


def test_comments_with_quotes_are_published_as_written(tmp_path):
    from cdr.warehouse.publish import publish_warehouse

    comment = "the caller's number; it's E.164 ('+27...')"
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("create schema marts")
        con.execute("create table marts.t as select 1 as x")
        con.execute(f"comment on table marts.t is {sql_string(comment)}")
        con.execute(f"comment on column marts.t.x is {sql_string(comment)}")
    publish_warehouse(tmp_path / "build.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select comment from duckdb_tables() where table_name = 't'").fetchone()[0] == comment
        assert con.execute("select comment from duckdb_columns() where table_name = 't'").fetchone()[0] == comment


def test_quotes_are_doubled_in_one_place_each_for_python_dbt_sql_and_dbt_yaml():
    """The ad-hoc helpers this replaced (a quote doubled by hand here and there) are gone: duckfile.sql_string,
    the macro sql_string, and the lake location in dbt_project.yml, which dbt renders before macros exist."""
    import re

    from tests.conftest import ROOT

    hand_made = re.compile(r"""replace\((chr\(39\)|"'"|'\\'')""")
    files = [
        *(ROOT / "plugins").rglob("*.py"),
        *(ROOT / "scripts").rglob("*.py"),
        *(ROOT / "dbt_project" / "models").rglob("*.*"),
        *(ROOT / "dbt_project" / "macros").rglob("*.sql"),
        ROOT / "dbt_project" / "dbt_project.yml",
    ]
    found = sorted(
        str(path.relative_to(ROOT))
        for path in files
        for line in path.read_text().splitlines()
        if hand_made.search(line) and not line.lstrip().startswith(("#", "--", "{#"))
    )
    assert found == [
        "dbt_project/dbt_project.yml",
        "dbt_project/macros/sources.sql",
        "plugins/cdr/warehouse/duckfile.py",
    ]
