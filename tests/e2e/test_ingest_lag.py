"""Time to the lake (marts.agg_ingest_lag) on the four-source demo warehouse, and the report's table of it.

The expected figures are computed here from the legs' own times with Python's statistics, not by the mart's SQL.
"""

from __future__ import annotations

import csv
import html
import shutil
import statistics
from collections import defaultdict
from datetime import UTC, date

import pytest

from cdr.reporting.build import build_report

pytestmark = pytest.mark.e2e
DEMO_DAY = date(2026, 11, 20)


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (the 'inclusive' method), as quantile_cont defines it."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def expected_lags(warehouse) -> dict[tuple[str, date], list[float]]:
    lags = defaultdict(list)
    for source, ended_at, extracted_at, estimated in warehouse.execute(
        "select source, ended_at, extracted_at, started_at_estimated from marts.fct_cdr"
    ).fetchall():
        if ended_at is None or extracted_at is None or estimated:
            continue
        lags[(source, ended_at.astimezone(UTC).date())].append((extracted_at - ended_at).total_seconds())
    return lags


def test_the_lag_of_every_source_and_day_is_its_legs_lag(warehouse):
    expected = expected_lags(warehouse)
    rows = warehouse.execute(
        "select source, date_key, legs, p50_lag_seconds, p95_lag_seconds, max_lag_seconds from marts.agg_ingest_lag"
    ).fetchall()
    assert {(r[0], r[1]) for r in rows} == set(expected)
    assert {r[0] for r in rows} == {"kazoo", "pbx", "enigma", "voicenter"}
    for source, day, legs, p50, p95, longest in rows:
        lags = expected[(source, day)]
        assert legs == len(lags)
        assert p50 == pytest.approx(quantile(lags, 0.5), abs=0.06), (source, day)
        assert p95 == pytest.approx(quantile(lags, 0.95), abs=0.06), (source, day)
        assert longest == pytest.approx(max(lags), abs=0.06)


def test_the_report_shows_the_time_to_the_lake_per_source(warehouse, tmp_path):
    original = warehouse.execute("select path from duckdb_databases() where database_name = current_database()")
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(original.fetchone()[0], copy)
    directory = build_report(DEMO_DAY, warehouse=copy, reports_root=tmp_path / "reports").directory
    with open(directory / "ingest_lag.csv", newline="") as f:
        rows = {r["source"]: r for r in csv.DictReader(f)}
    expected = {s: lags for (s, day), lags in expected_lags(warehouse).items() if day == DEMO_DAY}
    assert {s: int(r["legs"]) for s, r in rows.items()} == {s: len(v) for s, v in expected.items()}
    page = html.unescape((directory / "report.html").read_text())
    assert 'id="ingest-lag"' in page and "Time to the lake" in page
    for source in expected:
        assert f'data-source="{source}"' in page
