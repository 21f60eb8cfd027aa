"""The registry is the one list of sources: the dbt seed, the Assets and the report all agree with it."""

from __future__ import annotations

import csv
import re
from zoneinfo import ZoneInfo

import phonenumbers
import pyarrow as pa
import pytest

from cdr import registry
from cdr.airflow.assets import LAKE_ASSETS
from cdr.config import DBT_PROJECT_DIR
from cdr.registry import lake_schemas
from cdr.reporting.charts import SOURCE_COLOURS
from cdr.reporting.figures import SOURCE_LABELS
from cdr.reporting.render import SHORT_SOURCES


def test_the_dbt_seed_is_the_registry():
    with open(DBT_PROJECT_DIR / "seeds" / "cdr_sources.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == registry.SEED_COLUMNS
    assert [tuple(r) for r in rows[1:]] == registry.seed_rows(), (
        "regenerate dbt_project/seeds/cdr_sources.csv from cdr.registry.seed_rows()"
    )


def test_everything_per_source_derives_from_the_registry():
    names = ["kazoo", "pbx", "enigma", "voicenter"]
    assert registry.names() == names
    assert [a.uri for a in LAKE_ASSETS] == [f"cdr://lake/{n}" for n in names]
    assert list(lake_schemas()) == names and all(isinstance(s, pa.Schema) for s in lake_schemas().values())
    assert set(names) <= set(SOURCE_COLOURS) and set(names) <= set(SHORT_SOURCES) and set(names) <= set(SOURCE_LABELS)


def test_defaults_are_real_regions_and_zones():
    for entry in registry.SOURCES.values():
        assert entry.default_region in phonenumbers.SUPPORTED_REGIONS, entry
        ZoneInfo(entry.default_timezone)


def test_the_dbt_var_names_the_registry_sources():
    text = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    assert registry.dbt_var_names(text) == registry.names(), (
        "run `.venv/bin/python -m cdr.registry` to write the var cdr_sources and the seed from the registry"
    )


def test_writing_the_dbt_files_gives_what_is_checked_in(tmp_path):
    (tmp_path / "seeds").mkdir()
    text = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    (tmp_path / "dbt_project.yml").write_text(
        text.replace("cdr_sources: [kazoo, pbx, enigma, voicenter]", "cdr_sources: [old]")
    )
    registry.write_dbt_files(tmp_path)
    assert (tmp_path / "dbt_project.yml").read_text() == text
    assert (tmp_path / "seeds" / "cdr_sources.csv").read_bytes() == (
        DBT_PROJECT_DIR / "seeds" / "cdr_sources.csv"
    ).read_bytes()


def test_region_and_time_zone_come_from_the_connection_else_the_registry():
    assert registry.region_for("pbx", {}) == "RO"
    assert registry.region_for("pbx", None) == "RO"
    assert registry.region_for("enigma", {"default_region": ""}) == "ZA"
    assert registry.region_for("voicenter", {"default_region": " ps "}) == "PS"
    assert registry.region_for("kazoo", {"default_region": "gb"}) == "GB"
    assert registry.timezone_for("pbx", {}) == "Europe/Bucharest"
    assert registry.timezone_for("kazoo", {"timezone": "America/New_York"}) == "America/New_York"
    for bad in ({"default_region": "Romania"}, {"default_region": 40}):
        with pytest.raises(ValueError, match="pbx_default: extra.default_region"):
            registry.region_for("pbx", bad)
    with pytest.raises(ValueError, match="enigma_default: extra.timezone"):
        registry.timezone_for("enigma", {"timezone": "Mars/Olympus"})
    with pytest.raises(KeyError, match="unknown source"):
        registry.region_for("asterisk", {})


def test_the_sources_time_zone_defaults_are_the_registry_s():
    # The clients keep their own default (a client is usable without a Connection); it must be the registry's.
    from cdr.sources.enigma.drain import DEFAULT_TIMEZONE as ENIGMA_TIMEZONE
    from cdr.sources.pbx.client import DEFAULT_TIMEZONE as PBX_TIMEZONE

    assert registry.source("pbx").default_timezone == PBX_TIMEZONE
    assert registry.source("enigma").default_timezone == ENIGMA_TIMEZONE


def test_every_lake_schema_has_the_region_column():
    for name, schema in lake_schemas().items():
        assert schema.field("_default_region").type == pa.string(), name


_MARTS = DBT_PROJECT_DIR / "models" / "marts"


def _code(text: str) -> str:
    """SQL or Python without its comments (SQL --, Jinja {# #}, Python #): names in prose are allowed."""
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    text = re.sub(r'"""(.*?)"""', "", text, flags=re.S)
    return "\n".join(re.split(r"--|(?<!['\"])#", line, maxsplit=1)[0] for line in text.splitlines())


def test_the_marts_name_no_source():
    """The rules that differ by source live in the int_<source>__legs models and the seed cdr_sources: a mart
    that compares `source` with a name (or names one at all, as a string) is a rule in the wrong place."""
    files = sorted([*_MARTS.glob("*.sql"), *_MARTS.glob("*.py")])
    assert len(files) >= 9
    offending = []
    for path in files:
        code = _code(path.read_text())
        for name in registry.names():
            if re.search(rf"""(['"]){name}\1""", code, flags=re.I):
                offending.append(f"{path.name}: '{name}'")
    assert not offending, offending


def test_the_marts_check_catches_a_source_name():
    assert re.search(r"""(['"])enigma\1""", _code("select case when source = 'enigma' then 1 end"))
    assert not re.search(r"""(['"])enigma\1""", _code("-- the Enigma dialer's 'enigma' campaigns\nselect 1"))
    assert re.search(r"""(['"])enigma\1""", _code("select case when source = 'enigma' then 1 end"))
    assert not re.search(r"""(['"])enigma\1""", _code("-- the Enigma dialer's 'enigma' campaigns\nselect 1"))


def test_the_lake_extras_name_the_folders_their_writers_use():
    """The registry names the own numbers' and the Voicenter witness' folders by string (it imports neither
    package): the strings must be the folders those packages write."""
    from cdr.lake.own_numbers import FOLDER
    from cdr.lake.own_numbers import SCHEMA as OWN_NUMBERS_SCHEMA
    from cdr.sources.voicenter.records import WITNESS_FOLDER, WITNESS_SCHEMA

    assert registry.lake_tables()[FOLDER] == OWN_NUMBERS_SCHEMA
    assert registry.lake_tables()[WITNESS_FOLDER] == WITNESS_SCHEMA
    assert set(registry.lake_tables()) == {*registry.names(), FOLDER, WITNESS_FOLDER}
