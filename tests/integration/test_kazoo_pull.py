"""kazoo.extract.pull_interval against the KAZOO simulator over loopback, with faults injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdr.sources.http import RetryPolicy, SourceApiError
from cdr.sources.kazoo.client import KazooClient
from cdr.sources.kazoo.extract import pull_interval
from launch import start
from tests.helpers import control, kazoo_ids_created_in, lake_rows, stats

DAY_START, DAY_END = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=2.0, timeout=(2, 5))


@pytest.fixture(scope="module")
def sim():
    with start("kazoo_sim.py", "--token-ttl", "3600") as simulator:
        yield simulator.url


@pytest.fixture
def client(sim):
    control(sim, reset=True, expire_tokens=True)
    return KazooClient(sim, "demo-kazoo-api-key", "demo-account", page_size=25, policy=FAST)


def test_a_day_arrives_whole_and_exactly(sim, client, data_dir, kazoo_rows):
    summary = pull_interval(client, DAY_START, DAY_END, default_region="US")
    rows = lake_rows(data_dir, "kazoo")
    expected = kazoo_ids_created_in(kazoo_rows, DAY_START, DAY_END)
    assert {r["id"] for r in rows} == expected and len(rows) == len(expected)
    assert summary["rows_written"] == len(expected) and summary["pages"] == -(-len(expected) // 25)
    # Unknown fields survive in _raw; lineage is on every row.
    assert any('"custom_channel_vars"' in r["_raw"] for r in rows)
    assert {r["_interval_start"] for r in rows} == {DAY_START}
    assert {r["_default_region"] for r in rows} == {"US"}


def test_429s_500s_a_dropped_connection_and_an_expired_token_lose_nothing(sim, client, data_dir, kazoo_rows):
    client.authenticate()
    control(
        sim,
        faults=[{"status": 429, "retry_after": "0"}, {"status": 500}, None, {"drop": True}, {"status": 502}],
        expire_after=3,
    )
    before = stats(sim)
    pull_interval(client, DAY_START, DAY_END)
    after = stats(sim)
    assert after["faults"] - before["faults"] == 4
    assert after["auth"] - before["auth"] == 1  # re-authenticated once, mid-paging
    assert {r["id"] for r in lake_rows(data_dir, "kazoo")} == kazoo_ids_created_in(kazoo_rows, DAY_START, DAY_END)


def test_a_row_repeated_at_page_edges_is_counted_once(sim, client, data_dir, kazoo_rows):
    control(sim, repeat_edge=True)
    summary = pull_interval(client, DAY_START, DAY_END)
    rows = lake_rows(data_dir, "kazoo")
    assert summary["repeated_at_page_edge"] == summary["pages"] - 1 > 0
    assert len(rows) == len({r["id"] for r in rows}) == len(kazoo_ids_created_in(kazoo_rows, DAY_START, DAY_END))


def test_an_interval_longer_than_31_days_is_split_into_accepted_windows(sim, client, data_dir, kazoo_rows):
    start = DAY_START - timedelta(days=60)
    summary = pull_interval(client, start, DAY_END)
    assert {r["id"] for r in lake_rows(data_dir, "kazoo")} == kazoo_ids_created_in(kazoo_rows, start, DAY_END)
    assert summary["pages"] >= 3  # one page at least per window, and the server refused none


def test_the_server_refuses_a_range_over_31_days(sim, client):
    with pytest.raises(SourceApiError, match="HTTP 400.*date_range"):
        client.get(
            "/v2/accounts/demo-account/cdrs",
            {"created_from": 63_900_000_000, "created_to": 63_900_000_000 + 32 * 86400},
        )


def test_a_stuck_next_start_key_fails_clearly(sim, client, data_dir):
    control(sim, stuck_key=True)
    with pytest.raises(SourceApiError, match="came back unchanged"):
        pull_interval(client, DAY_START, DAY_END)
    assert lake_rows(data_dir, "kazoo") == []  # nothing half-written is published


def test_rerunning_an_interval_replaces_its_files(sim, client, data_dir):
    pull_interval(client, DAY_START, DAY_END)
    first = sorted(r["id"] for r in lake_rows(data_dir, "kazoo"))
    files = sorted((data_dir / "lake").rglob("*.parquet"))
    pull_interval(client, DAY_START, DAY_END)
    assert sorted(r["id"] for r in lake_rows(data_dir, "kazoo")) == first
    assert sorted((data_dir / "lake").rglob("*.parquet")) == files


def test_bad_rows_go_to_quarantine_byte_for_byte(tmp_path, data_dir):
    import json

    data = [
        {"id": "202611-good", "timestamp": 63962352000 + 100, "duration_seconds": 5},
        {"no_id": True, "timestamp": 63962352000 + 200, "duration_seconds": 5},
        {"id": "", "timestamp": 63962352000 + 300, "duration_seconds": 5},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with start("kazoo_sim.py", "--data", str(path)) as sim:
        client = KazooClient(sim.url, "demo-kazoo-api-key", "demo-account", policy=FAST)
        summary = pull_interval(client, DAY_START, DAY_END)
    assert summary["quarantined"] == 2 and summary["rows_written"] == 1
    kept = sorted((data_dir / "quarantine" / "kazoo").rglob("*.bin"))
    assert sorted((json.loads(p.read_bytes()) for p in kept), key=json.dumps) == sorted(data[1:], key=json.dumps)


def own_numbers_in_lake(data_dir) -> list[tuple[str, str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "lake" / "own_numbers" / "own_numbers__kazoo.parquet")
    return sorted(zip(table["number"].to_pylist(), table["origin"].to_pylist()))


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["map", "paged"])
def test_each_pull_keeps_the_accounts_own_numbers_in_the_lake(sim, client, data_dir, shape):
    """Crossbar's data.numbers object, and the list later releases page with start_key (page_size 1 here, so
    the paging runs), both give the account's numbers; the Connection's own_numbers join them."""
    control(sim, numbers_shape=shape)
    client.page_size = 1
    pull_interval(client, DAY_START, DAY_END, own_numbers=["0312 285 000"])
    # the simulator's default numbers (include/simulators/kazoo_sim.py DEFAULT_NUMBERS)
    assert own_numbers_in_lake(data_dir) == [
        ("+18005550100", "api"),
        ("+18005550111", "api"),
        ("0312 285 000", "connection"),
    ]
    # the next pull replaces the list whole
    control(sim, numbers_shape=shape)
    pull_interval(client, DAY_START, DAY_END)
    assert own_numbers_in_lake(data_dir) == [("+18005550100", "api"), ("+18005550111", "api")]


def test_an_account_refused_its_numbers_pulls_with_the_connections(sim, client, data_dir, kazoo_rows):
    control(sim, numbers_status=403)
    pull_interval(client, DAY_START, DAY_END, own_numbers=["+18005550100"])
    assert own_numbers_in_lake(data_dir) == [("+18005550100", "connection")]
    assert {r["id"] for r in lake_rows(data_dir, "kazoo")} == kazoo_ids_created_in(kazoo_rows, DAY_START, DAY_END)


def test_a_phone_numbers_server_error_fails_the_pull_naming_the_request(sim, client, data_dir):
    control(sim, numbers_status=400)
    with pytest.raises(SourceApiError, match=r"KAZOO: GET .*/phone_numbers.* failed: HTTP 400"):
        pull_interval(client, DAY_START, DAY_END)
