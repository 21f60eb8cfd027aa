"""The agent directory: the seed's names and teams in marts.dim_agent and in the report's agent ranking, and an
operator's CSV under CDR_DATA_DIR (reference/agent_directory.csv) taking over on the next build, incremental."""

from __future__ import annotations

import csv
import html
import json
import re
from datetime import date

import duckdb
import pytest
import redis

from cdr import config
from cdr.reporting.build import build_report
from cdr.sources.enigma.drain import drain
from cdr.warehouse.build import build_and_publish, dbt_build_arguments
from launch import start_redis
from tests.conftest import ROOT
from tests.e2e.test_enigma_e2e import KEYS, MESSAGES

pytestmark = pytest.mark.e2e
SEED = ROOT / "dbt_project" / "seeds" / "agent_directory.csv"
DEMO_DAY = date(2026, 11, 20)


def directory_rows(path) -> dict[tuple[str, str], dict]:
    with open(path, newline="") as fh:
        return {(r["source"], r["agent_id"]): r for r in csv.DictReader(fh)}


def demo_extensions() -> set[str]:
    """The agents of the Enigma demo: every extension its messages name (a c2d extension of 3-4 digits)."""
    found = set()
    for line in MESSAGES.read_bytes().splitlines():
        try:
            message = json.loads(line.split(b"\t", 1)[1])
        except ValueError:
            continue
        for item in message.get("notifications") or [message.get("payload") or {}]:
            if message.get("type", "cdr") == "cdr" and item.get("extension"):
                found.add(item["extension"])
    return {e for e in found if re.fullmatch(r"[0-9]{3,4}", e)}


def agents(con) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "select agent_id, agent_name, display_name, name_basis, team from marts.dim_agent where source = 'enigma'"
        ).fetchall()
    }


def test_the_directory_names_agents_and_an_operator_csv_takes_over_on_the_next_build(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("CDR_DATA_DIR", str(data))
    with start_redis() as server:
        client = redis.Redis(port=server.port)
        for line in MESSAGES.read_bytes().splitlines():
            key, raw = line.split(b"\t", 1)
            client.lpush(key, raw)
        drain(client, KEYS)
    build_and_publish()
    seed = directory_rows(SEED)
    extensions = demo_extensions()
    assert extensions and all(("enigma", e) in seed for e in extensions), "every demo extension has a seed row"
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        assert agents(con) == {
            e: (
                seed[("enigma", e)]["agent_name"],
                seed[("enigma", e)]["agent_name"],
                "directory",
                seed[("enigma", e)]["team"],
            )
            for e in extensions
        }

    # The operator renames one agent and moves them to another team, and names one the seed does not know.
    renamed = sorted(extensions)[0]
    reference = data / "reference"
    reference.mkdir()
    (reference / "agent_directory.csv").write_text(
        f"source,agent_id,agent_name,team\nenigma,{renamed},Nomvula Khumalo,Team Lead\nenigma,9999,Nobody Seen,Ghosts\n"
    )
    assert dbt_build_arguments()[:2] == ["build", "--select"], "the next build is an incremental one"
    build_and_publish()
    operator = directory_rows(reference / "agent_directory.csv")
    expected = {}
    for e in extensions:
        row = operator.get(("enigma", e)) or seed[("enigma", e)]
        expected[e] = (row["agent_name"], row["agent_name"], "directory", row["team"])
    assert expected[renamed] == ("Nomvula Khumalo", "Nomvula Khumalo", "directory", "Team Lead")
    with duckdb.connect(str(config.warehouse_path()), read_only=True) as con:
        assert agents(con) == expected
        unnamed = con.execute(
            "select count(*) from marts.dq_unmapped where source = 'enigma' and affects = 'agent_name'"
        ).fetchone()[0]
        assert unnamed == 0, "a directory-named agent is not an unnamed one"

    # The report ranks agents by name, with their team; the extension alone is never the label.
    directory = build_report(DEMO_DAY, warehouse=config.warehouse_path(), reports_root=tmp_path / "reports").directory
    with open(directory / "agents.csv", newline="") as fh:
        ranked = [r for r in csv.DictReader(fh) if r["rank"]]
    assert ranked
    names = {name: team for name, _, _, team in expected.values()}
    assert {(r["agent"], r["team"]) for r in ranked} <= set(names.items())
    page = html.unescape(re.sub(r"<[^>]+>", " ", (directory / "report.html").read_text()))
    section = page[page.index("Agents") :]
    for r in ranked:
        assert r["agent"] in section and r["team"] in section
    assert not re.search(r"\d+\.\s+3\d{3}\b", section), "an agent shown by extension"
