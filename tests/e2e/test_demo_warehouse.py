"""All four demo sources in one warehouse: totals against the demo data, and every example query of
docs/analysts.md run and checked."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import DAY, VOICENTER
from tests.e2e.test_enigma_e2e import expected_call_refs, expected_calls
from tests.helpers import kazoo_ids_created_in, pbx_ids_read_by

pytestmark = pytest.mark.e2e
QUERIES = dict(re.findall(r"### (\d+)\..*?\n\n```sql\n(.*?)```", (ROOT / "docs" / "analysts.md").read_text(), re.S))


def voicenter_calls() -> dict[str, list[dict]]:
    calls = defaultdict(list)
    for cdr in VOICENTER:
        calls[cdr.get("OriginalIvrUniqueID", cdr["ivruniqueid"])].append(cdr)
    return calls


def test_totals_per_source_match_the_demo_data(warehouse, kazoo_rows, pbx_rows):
    legs = dict(warehouse.execute("select source, count(*) from marts.fct_cdr group by all").fetchall())
    assert legs == {
        "kazoo": len(kazoo_ids_created_in(kazoo_rows, *DAY)),
        "pbx": len(pbx_ids_read_by(pbx_rows, *DAY)),
        "enigma": len(expected_call_refs()[0]),
        "voicenter": len(VOICENTER),
    }
    kazoo_calls = {r["interaction_id"] for r in kazoo_rows if r["id"] in kazoo_ids_created_in(kazoo_rows, *DAY)}
    pbx_calls = {r["linkedid"] for r in pbx_rows if r["id"] in pbx_ids_read_by(pbx_rows, *DAY)}
    calls = dict(warehouse.execute("select source, count(*) from marts.fct_call group by all").fetchall())
    assert calls == {
        "kazoo": len(kazoo_calls),
        "pbx": len(pbx_calls),
        "enigma": len(expected_calls()),
        "voicenter": len(voicenter_calls()),
    }


def test_every_example_query_runs_and_answers(warehouse):
    assert len(QUERIES) >= 10
    for number, sql in QUERIES.items():
        assert warehouse.execute(sql).fetchall(), f"query {number} answered nothing on the demo warehouse"


def test_the_answers_agree_with_the_demo_data(warehouse):
    # 7: calls and answer-seizure ratio per source, Voicenter's counted from what Voicenter sent.
    by_source = {row[0]: row for row in warehouse.execute(QUERIES["7"]).fetchall()}
    calls = voicenter_calls()
    answered = sum(any(c["status"].upper() == "ANSWER" for c in legs) for legs in calls.values())
    assert by_source["voicenter"][1] == len(calls)
    assert by_source["voicenter"][2] == round(100.0 * answered / len(calls), 1)
    # 8: calls per day add up to the calls of each source.
    per_day = Counter()
    for _, _, source, count in warehouse.execute(QUERIES["8"]).fetchall():
        per_day[source] += count
    assert dict(per_day) == {source: row[1] for source, row in by_source.items()}
    # 6: Voicenter queues offered and abandoned as sent.
    queues = {(row[0], row[1]): row for row in warehouse.execute(QUERIES["6"]).fetchall()}
    for name in {c["queuename"] for c in VOICENTER if c["queuename"]}:
        sent = [c for c in VOICENTER if c["queuename"] == name]
        offered, _, abandoned = queues[("voicenter", name)][3:6]
        assert (offered, abandoned) == (len(sent), sum(c["status"] == "ABANDONE" for c in sent))
    # 1: the Voicenter agent who answered most incoming calls, counted from the CDRs.
    import csv

    with open(ROOT / "dbt_project" / "seeds" / "voicenter_call_types.csv") as fh:
        inbound = {row["type_name"] for row in csv.DictReader(fh) if row["direction"] == "inbound"}
    answered_in = Counter()
    for legs in calls.values():
        first = min(legs, key=lambda c: c["time"])
        answering = [c for c in sorted(legs, key=lambda c: c["time"]) if c["status"].upper() == "ANSWER"]
        if first["type"] in inbound and answering:
            answered_in[answering[0]["representative_name"]] += 1
    top = next(row for row in warehouse.execute(QUERIES["1"]).fetchall() if row[0] == "voicenter")
    assert top[2] == max(answered_in.values()) and answered_in[top[1]] == top[2]


def test_the_model_documentation_is_published_beside_the_warehouse(warehouse):
    path = Path(
        warehouse.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()[0]
    )
    docs = path.parent / "docs"
    manifest = json.loads((docs / "manifest.json").read_text())
    fct = manifest["nodes"]["model.cdr_warehouse.fct_cdr"]
    assert "E.164" in fct["columns"]["caller_number"]["description"]
    catalog = json.loads((docs / "catalog.json").read_text())
    assert "remote_country_code" in catalog["nodes"]["model.cdr_warehouse.fct_cdr"]["columns"]
    # the site itself carries the manifest and catalog, so it opens from disk without a server
    page = (docs / "index.html").read_text()
    assert "fct_cdr" in page and "remote_country_code" in page


def test_remote_country_is_the_country_of_every_remote_number_that_parses(warehouse):
    import phonenumbers

    legs = warehouse.execute(
        "select source, direction, case direction when 'inbound' then caller_number else callee_number end, "
        "remote_country_code from marts.fct_cdr where direction in ('inbound', 'outbound')"
    ).fetchall()
    checked = 0
    for source, direction, number, country in legs:
        if number and number.startswith("+"):
            parsed = phonenumbers.parse(number)
            assert phonenumbers.is_possible_number(parsed), (source, number)
            # a number in no known range (drama numbers, new ranges) still has its calling code's main country
            expected = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
                parsed.country_code
            )
            assert country == expected, (source, direction, number, country)
            checked += 1
        else:
            assert country is None, (source, direction, number, country)
    assert checked > 0.8 * len(legs)


def test_freshness_is_checked_for_every_source(warehouse):
    path = Path(
        warehouse.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()[0]
    )
    results = json.loads((path.parent / "build" / "target" / "sources.json").read_text())["results"]
    assert {r["unique_id"].split(".")[-2] for r in results} == {"kazoo", "pbx", "enigma", "voicenter"}
    # the demo data was just read: every source is fresh
    assert {r["status"] for r in results} == {"pass"}
    # and its time is when the source's newest lake file landed (the zero-row schema file is no landing)
    for result in results:
        source = result["unique_id"].split(".")[-2]
        files = [p for p in (path.parent / "lake" / source).rglob("*.parquet") if not p.name.startswith(("_", "."))]
        newest = datetime.fromtimestamp(max(p.stat().st_mtime for p in files), UTC)
        loaded = datetime.fromisoformat(result["max_loaded_at"].replace("Z", "+00:00"))
        assert abs((loaded - newest).total_seconds()) < 1, (source, loaded, newest)
