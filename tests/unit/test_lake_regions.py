"""Every source stamps the region of numbers without a country code on its lake rows (`_default_region`), as
configured (the Connection's extra) or, without it, the registry's default, as KAZOO always has."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from tests.conftest import PBX_DATA, ROOT


def regions(folder) -> set:
    files = [p for p in folder.rglob("*.parquet") if p.name != "_schema.parquet"]
    assert files
    return {value for path in files for value in pq.read_table(path, columns=["_default_region"]).column(0).to_pylist()}


@pytest.mark.parametrize("given, stamped", [("BW", "BW"), (None, "ZA")])
def test_enigma_batches_carry_the_region(data_dir, given, stamped):
    from cdr.sources.enigma.drain import write_batch

    rows, bad = write_batch(
        "enigma:notifications:campaigns",
        [b'{"type": "cdr", "payload": {"call_ref": "r1"}}'],
        "Africa/Johannesburg",
        given,
    )
    assert (rows, bad) == (1, 0)
    assert regions(data_dir / "lake" / "enigma") == {stamped}


@pytest.mark.parametrize("given, stamped", [("MD", "MD"), (None, "RO")])
def test_pbx_pulls_carry_the_region(data_dir, given, stamped):
    from cdr.sources.pbx.client import Page
    from cdr.sources.pbx.extract import pull_interval

    records = [r for r in json.loads(PBX_DATA.read_text()) if r["time"].startswith("2026-11-20")][:5]
    assert records
    client = SimpleNamespace(tz=ZoneInfo("Europe/Bucharest"), cdr_pages=lambda start, end: iter([Page(1, 1, records)]))
    summary = pull_interval(
        client,
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
        lookback_hours=0,
        default_region=given,
    )
    assert summary["rows_written"] == len(records)
    assert regions(data_dir / "lake" / "pbx") == {stamped}


@pytest.mark.parametrize("given, stamped", [("PS", "PS"), (None, "IL")])
def test_voicenter_loads_carry_the_region(data_dir, given, stamped):
    from cdr.sources.voicenter.load import landing_folder, load_staged

    cdr = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())[0]
    received = datetime.fromtimestamp(cdr["time"] + 60, UTC).isoformat()
    landing_folder().mkdir(parents=True)
    (landing_folder() / "segment-1.jsonl").write_text(
        json.dumps({"received_at": received, "format": "json", "cdr": cdr}) + "\n"
    )
    assert load_staged(default_region=given)["cdrs"] == 1
    assert regions(data_dir / "lake" / "voicenter") == {stamped}


def test_voicenter_settings_from_the_optional_connection(monkeypatch):
    from cdr.sources.voicenter.account import configured_settings

    monkeypatch.delenv("AIRFLOW_CONN_VOICENTER_DEFAULT", raising=False)
    assert (
        configured_settings().default_region,
        configured_settings().timezone,
        configured_settings().time_basis,
    ) == ("IL", "Asia/Jerusalem", "local")
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOICENTER_DEFAULT",
        json.dumps(
            {
                "conn_type": "http",
                "host": "https://api.voicenter.com",
                "extra": {"default_region": "ps", "timezone": "Europe/Kyiv", "time_basis": "UTC"},
            }
        ),
    )
    assert (
        configured_settings().default_region,
        configured_settings().timezone,
        configured_settings().time_basis,
    ) == ("PS", "Europe/Kyiv", "utc")
