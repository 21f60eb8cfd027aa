"""pbx.extract.pull_interval against the While1 PBX simulator over loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cdr.sources.http import RetryPolicy, SourceApiError
from cdr.sources.pbx.client import PbxClient
from cdr.sources.pbx.extract import pull_interval
from launch import start
from tests.helpers import control, lake_rows, pbx_ids_read_by, stats

DAY = (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=2.0, timeout=(2, 5))


@pytest.fixture(scope="module")
def sim():
    with start("pbx_sim.py", "--page-size", "7") as simulator:
        yield simulator.url


@pytest.fixture
def client(sim):
    control(sim, reset=True)
    return PbxClient(sim, "demo-pbx-token", "demo-pbx-api-key", policy=FAST)


def test_every_page_of_a_day_arrives(sim, client, data_dir, pbx_rows):
    summary = pull_interval(client, *DAY)
    expected = pbx_ids_read_by(pbx_rows, *DAY)
    assert {r["id"] for r in lake_rows(data_dir, "pbx")} == expected
    assert summary["pages"] == -(-len(expected) // 7) > 3 and summary["rows_written"] == len(expected)


def test_server_errors_and_a_dropped_connection_are_retried(sim, client, data_dir, pbx_rows):
    control(sim, faults=[{"status": 500}, None, {"drop": True}, {"status": 503}, {"status": 429, "retry_after": "0"}])
    before = stats(sim)["faults"]
    pull_interval(client, *DAY)
    assert stats(sim)["faults"] - before == 4
    assert {r["id"] for r in lake_rows(data_dir, "pbx")} == pbx_ids_read_by(pbx_rows, *DAY)


def test_a_wrong_api_key_is_a_clear_error(sim, data_dir):
    client = PbxClient(sim, "demo-pbx-token", "not-the-key", policy=FAST)
    with pytest.raises(SourceApiError, match="has_error: Invalid api_hash"):
        pull_interval(client, *DAY)
    assert lake_rows(data_dir, "pbx") == []


def test_a_wrong_token_is_a_clear_error(sim, data_dir):
    client = PbxClient(sim, "stale-token", "demo-pbx-api-key", policy=FAST)
    with pytest.raises(SourceApiError, match="HTTP 401.*Unauthorized"):
        pull_interval(client, *DAY)


def test_the_simulator_refuses_unknown_filters(sim, client):
    with pytest.raises(SourceApiError, match="Invalid filter: from_idxx"):
        client.request_page({"from_idxx": 1}, 1)


def row(id_, start_utc: datetime, seconds: int, tz="Europe/Bucharest") -> dict:
    from zoneinfo import ZoneInfo

    local = start_utc.astimezone(ZoneInfo(tz))
    end = (start_utc + timedelta(seconds=seconds)).astimezone(ZoneInfo(tz))
    hms = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return {
        "id": str(id_),
        "uniqueid": f"{int(start_utc.timestamp())}.{id_}",
        "linkedid": f"l{id_}",
        "time": local.strftime("%Y-%m-%d %H:%M:%S"),
        "time_end": end.strftime("%Y-%m-%d %H:%M:%S"),
        "direction": "IN",
        "call_status": "ANSWERED",
        "duration": hms,
        "bill_duration": hms,
    }


@pytest.fixture
def custom_sim(tmp_path):
    def launch(rows: list[dict]):
        path = tmp_path / "pbx.json"
        path.write_text(json.dumps(rows))
        return start("pbx_sim.py", "--data", str(path))

    return launch


def test_calls_around_local_midnight_and_daylight_saving_land_in_their_utc_interval(custom_sim, data_dir):
    rows = [
        row(1, datetime(2026, 11, 19, 22, 30, tzinfo=UTC), 60),  # 00:30 local on the 20th: still the 19th in UTC
        row(2, datetime(2026, 11, 20, 21, 59, tzinfo=UTC), 60),  # 23:59 local on the 20th
        row(3, datetime(2026, 10, 25, 0, 30, tzinfo=UTC), 60),  # 03:30 local, summer time
        row(4, datetime(2026, 10, 25, 1, 30, tzinfo=UTC), 60),  # 03:30 local again, winter time
        row(5, datetime(2026, 3, 29, 1, 10, tzinfo=UTC), 60),  # 04:10 local, just after spring forward
    ]
    with custom_sim(rows) as sim:
        client = PbxClient(sim.url, "demo-pbx-token", "demo-pbx-api-key", policy=FAST)
        for start in (
            datetime(2026, 11, 19, 22, tzinfo=UTC),
            datetime(2026, 10, 25, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 1, tzinfo=UTC),
            datetime(2026, 3, 29, 1, tzinfo=UTC),
        ):
            pull_interval(client, start, start + timedelta(hours=1), lookback_hours=0)
    got = {r["id"]: r for r in lake_rows(data_dir, "pbx")}
    assert {i: got[i]["time_utc"] for i in got} == {
        "1": datetime(2026, 11, 19, 22, 30, tzinfo=UTC),
        "3": datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        "4": datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        "5": datetime(2026, 3, 29, 1, 10, tzinfo=UTC),
    }
    # The wall-clock filter reads the repeated hour twice; both readings carry the right UTC time, and the
    # warehouse counts each id once.
    assert sorted(r["_interval_start"].hour for r in lake_rows(data_dir, "pbx") if r["id"] in ("3", "4")) == [
        0,
        0,
        1,
        1,
    ]
    assert got["1"]["_interval_start"] == datetime(2026, 11, 19, 22, tzinfo=UTC)


def test_a_call_still_going_on_at_its_pull_is_loaded_by_the_next(custom_sim, data_dir):
    long_call = row(9, datetime(2026, 11, 20, 9, 50, tzinfo=UTC), 3600)  # 09:50-10:50 UTC
    short_call = row(8, datetime(2026, 11, 20, 9, 10, tzinfo=UTC), 60)
    with custom_sim([short_call, long_call]) as sim:
        client = PbxClient(sim.url, "demo-pbx-token", "demo-pbx-api-key", policy=FAST)
        control(sim.url, now=datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC).timestamp())
        pull_interval(client, datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 10, tzinfo=UTC))
        assert {r["id"] for r in lake_rows(data_dir, "pbx")} == {"8"}  # the PBX has not written the long call yet
        control(sim.url, now=datetime(2026, 11, 20, 11, 0, 5, tzinfo=UTC).timestamp())
        pull_interval(client, datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 11, tzinfo=UTC))
    by_unit = {(r["id"], r["_interval_start"].hour) for r in lake_rows(data_dir, "pbx")}
    assert ("9", 10) in by_unit  # read back by the 10:00 run's look-back
