"""The Call Log client against the Call Log simulator on loopback: splitting at the cap, errors, casing, pacing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import requests
from voicenter_calllog_sim import to_log_record

from cdr.sources.http import RetryPolicy
from cdr.sources.voicenter.calllog import CallLogClient, CallLogError, TokenBucket, endpoint_url
from cdr.sources.voicenter.reconcile import to_row
from launch import start
from tests.conftest import ROOT
from tests.helpers import control, stats, voicenter_instant, voicenter_time

CODE = "demo-voicenter-code"
DAY = (datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
CDRS = json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())
FAST = RetryPolicy(attempts=4, backoff=0.05, max_wait=1.0)


def ids_between(start: datetime, end: datetime) -> set[str]:
    """Computed from the demo data itself: the CDRs whose call began in [start, end] (the simulator's filter)."""
    return {c["ivruniqueid"] for c in CDRS if start <= voicenter_instant(c) <= end}


@pytest.fixture(scope="module")
def sim():
    with start("voicenter_calllog_sim.py", "--rate-limit", "100000") as server:
        yield server


@pytest.fixture(autouse=True)
def reset(sim):
    control(sim.url, reset=True, clear_stats=True)
    yield


def client(url: str, **kwargs) -> CallLogClient:
    return CallLogClient(
        endpoint_url(url),
        kwargs.pop("code", CODE),
        policy=kwargs.pop("policy", FAST),
        requests_per_minute=kwargs.pop("requests_per_minute", 60_000),
        **kwargs,
    )


def test_a_day_under_the_cap_is_one_request(sim):
    pulled = client(sim.url).pull(*DAY)
    assert set(pulled.records) == ids_between(*DAY) and len(pulled.records) == len(CDRS) > 40
    assert pulled.requests == 1 and pulled.splits == 0
    [query] = stats(sim.url)["queries"]
    assert query["shape"] == "search" and query["fromdate"] == "2026-11-20T00:00:00+00:00"


def test_a_full_answer_is_halved_until_every_window_fits(sim):
    control(sim.url, cap=5)
    pulled = client(sim.url).pull(*DAY)
    assert set(pulled.records) == ids_between(*DAY)
    assert pulled.splits > 0 and pulled.unidentified == []
    queries = stats(sim.url)["queries"]
    assert stats(sim.url)["answers_full"] == pulled.splits
    # Every answer the client kept was whole, and the kept windows tile the day.
    kept = [q for q in queries if q["returned"] == q["total"]]
    kept.sort(key=lambda q: q["fromdate"])
    assert kept[0]["fromdate"] == DAY[0].isoformat() and kept[-1]["todate"] == DAY[1].isoformat()
    assert all(a["todate"] == b["fromdate"] for a, b in pairwise(kept))


def test_the_cap_itself_counts_as_full_even_when_total_hits_says_no_more(sim):
    # An answer of exactly the cap may have been cut (the API does not say): it is split too.
    ids = sorted(ids_between(*DAY))
    control(sim.url, cap=len(ids))
    pulled = client(sim.url, cap=len(ids)).pull(*DAY)
    assert sorted(pulled.records) == ids and pulled.splits >= 1


def test_records_on_a_shared_window_edge_are_kept_once(sim, tmp_path):
    # Two CDRs in the very second both halves share: the inclusive edge returns them twice.
    edge = voicenter_time(DAY[0] + timedelta(hours=12))
    cdrs = [dict(CDRS[0], ivruniqueid=f"edge{i}", time=edge) for i in range(2)]
    cdrs += [dict(CDRS[0], ivruniqueid=f"early{i}", time=edge - 3600 * (i + 1)) for i in range(2)]
    data = tmp_path / "cdrs.json"
    data.write_text(json.dumps(cdrs))
    with start("voicenter_calllog_sim.py", "--data", str(data), "--cap", "3", "--rate-limit", "100000") as edge_sim:
        pulled = client(edge_sim.url).pull(*DAY)
    assert sorted(pulled.records) == ["early0", "early1", "edge0", "edge1"]
    assert pulled.duplicates == 2


def test_a_window_over_the_cap_at_the_minimum_width_is_a_clear_error(sim):
    control(sim.url, cap=1)
    # The Click2Call and attended legs start 8 s apart: no one-minute window holds them in one answer.
    message = r"2 CDRs \(TOTAL_HITS; 1 returned\) in a window of \d+s \(the minimum is 60s\)"
    with pytest.raises(CallLogError, match=message):
        client(sim.url, min_window=timedelta(minutes=1)).pull(*DAY)


def test_rate_limited_answers_are_retried_after_a_back_off(sim):
    control(sim.url, errors=[1, 1])
    pulled = client(sim.url).pull(*DAY)
    assert len(pulled.records) == len(CDRS)
    assert stats(sim.url)["requests"] == 3


def test_rate_limited_answers_on_http_200_are_retried_too(sim):
    control(sim.url, errors=[1], errors_as_http_200=True)
    assert len(client(sim.url).pull(*DAY).records) == len(CDRS)


def test_still_rate_limited_after_every_attempt_names_the_error(sim):
    control(sim.url, errors=[1] * 10)
    with pytest.raises(CallLogError, match="rate limited .ERROR_NUMBER 1.") as caught:
        client(sim.url).pull(*DAY)
    assert caught.value.error_number == 1 and stats(sim.url)["requests"] == FAST.attempts


@pytest.mark.parametrize("as_200", [False, True])
def test_a_refused_code_fails_at_once_naming_the_number_and_description(sim, as_200):
    control(sim.url, errors_as_http_200=as_200)
    with pytest.raises(CallLogError, match=r"ERROR_NUMBER 2 \(Authorization failed, invalid code\)") as caught:
        client(sim.url, code="wrong-code").pull(*DAY)
    assert caught.value.error_number == 2 and stats(sim.url)["requests"] == 1
    assert "wrong-code" not in str(caught.value)


def test_an_unauthorized_ip_fails_at_once(sim):
    control(sim.url, allowed_ips=["192.0.2.1"])
    with pytest.raises(CallLogError, match=r"ERROR_NUMBER 4 \(IP not authorized\).*API Settings"):
        client(sim.url).pull(*DAY)
    assert stats(sim.url)["requests"] == 1


def test_lower_case_keys_read_the_same(sim):
    vendor = client(sim.url).pull(*DAY).records
    control(sim.url, key_case="lower")
    lower = client(sim.url).pull(*DAY).records
    assert set(lower) == set(vendor) and all("callid" in r for r in lower.values())
    lineage = {"_source": "voicenter"}
    for call_id, record in vendor.items():
        a, b = to_row(record, lineage)[0], to_row(lower[call_id], lineage)[0]
        a.pop("_raw"), b.pop("_raw")
        assert a == b


def test_log_records_map_onto_the_webhook_columns():
    for cdr in CDRS:
        row, day = to_row(to_log_record(cdr), {"_source": "voicenter"})
        assert row["ivruniqueid"] == cdr["ivruniqueid"] and row["_origin"] == "call_log"
        # `time` as the webhook writes it (Israel's wall clock), `time_utc` the true instant, as the webhook's copy
        assert row["time"] == cdr["time"] and row["time_utc"] == voicenter_instant(cdr)
        assert day == voicenter_instant(cdr).date()
        for column in (
            "caller",
            "target",
            "type",
            "status",
            "duration",
            "dialtime",
            "price",
            "queuename",
            "targetextension",
            "callerextension",
            "did",
            "representative_code",
            "record",
        ):
            assert row[column] == cdr.get(column), column
        assert row["OriginalIvrUniqueID"] == cdr.get("OriginalIvrUniqueID")
        assert json.loads(row["_raw"])["CallID"] == cdr["ivruniqueid"]
        if cdr.get("IVR"):
            ivr = cdr["IVR"] if isinstance(cdr["IVR"], list) else json.loads(cdr["IVR"])
            assert [(x["layer_name"], x["Dtmf"]) for x in json.loads(row["IVR"])] == [
                (x["layer_name"], x["Dtmf"]) for x in ivr
            ]


def test_the_date_of_the_vendor_example_is_its_unix_instant():
    import calendar

    row, _ = to_row({"CallID": "202406101204550233243ghff3189e5c", "Date": "2024-06-10T09:04:58Z"}, {})
    assert row["time_utc"] == datetime(2024, 6, 10, 9, 4, 58, tzinfo=UTC)
    # as the webhook would write it: Israel's wall clock in summer (UTC+3), the CallID's prefix 12:04:55 + 3 s
    assert row["time"] == calendar.timegm((2024, 6, 10, 12, 4, 58))
    for variant in ("2024-06-10T09:04:58", "2024-06-10 09:04:58", "2024-06-10T12:04:58+03:00"):
        assert to_row({"CallID": "x", "Date": variant}, {})[0]["time_utc"].timestamp() == 1718010298
    utc_account = {"_timezone": "Asia/Jerusalem", "_time_basis": "utc"}
    assert to_row({"CallID": "x", "Date": "2024-06-10T09:04:58Z"}, utc_account)[0]["time"] == 1718010298


def test_both_body_shapes_and_get_give_the_same_answer(sim):
    url = endpoint_url(sim.url)
    dates = {"fromdate": "2026-11-20T00:00:00", "todate": "2026-11-20T12:00:00"}
    nested = requests.post(url, json={"code": CODE, "search": dates, "fields": ["CallID", "Date"]}, timeout=5).json()
    top = requests.post(url, json={"code": CODE, **dates, "fields": ["CallID", "Date"]}, timeout=5).json()
    got = requests.get(
        url, params=[("code", CODE), *dates.items(), ("fields", "CallID"), ("fields", "Date")], timeout=5
    ).json()
    php = requests.get(
        url, params=[("code", CODE), *dates.items(), ("fields[0]", "CallID"), ("fields[1]", "Date")], timeout=5
    ).json()
    expected = ids_between(DAY[0], DAY[0] + timedelta(hours=12))
    for answer in (nested, top, got, php):
        assert answer["ERROR_NUMBER"] == 0 and answer["TOTAL_HITS"] == len(expected)
        assert {r["CallID"] for r in answer["CDR_LIST"]} == expected
        assert all(set(r) == {"CallID", "Date"} for r in answer["CDR_LIST"])


def test_the_simulator_refuses_a_bad_date_range(sim):
    answer = requests.post(
        endpoint_url(sim.url),
        json={"code": CODE, "search": {"fromdate": "2026-11-21T00:00:00", "todate": "2026-11-20T00:00:00"}},
        timeout=5,
    )
    assert answer.status_code == 404 and answer.json()["ERROR_NUMBER"] == 5


@pytest.mark.slow
def test_pacing_keeps_under_the_servers_rate_limit(sim):
    # 5 requests a second allowed; the client paces itself at 4 a second and is never refused.
    control(sim.url, cap=3, rate_limit={"requests": 5, "seconds": 1})
    pulled = client(sim.url, requests_per_minute=240).pull(*DAY)
    assert len(pulled.records) == len(CDRS) and pulled.requests > 10
    assert stats(sim.url)["rate_limited"] == 0


@pytest.mark.slow
def test_an_unpaced_client_is_refused_and_recovers_by_backing_off(sim):
    control(sim.url, cap=3, rate_limit={"requests": 5, "seconds": 1})
    pulled = client(sim.url, policy=RetryPolicy(attempts=8, backoff=0.3, max_wait=2.0)).pull(*DAY)
    assert len(pulled.records) == len(CDRS)
    assert stats(sim.url)["rate_limited"] > 0


def test_the_token_bucket_spaces_requests_evenly():
    clock = [0.0]
    bucket = TokenBucket(30, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    times = []
    for _ in range(5):
        bucket.acquire()
        times.append(clock[0])
    assert times == [0.0, 2.0, 4.0, 6.0, 8.0]
    clock[0] += 10  # idle time does not bank more than one request
    bucket.acquire()
    bucket.acquire()
    assert clock[0] == 20.0
