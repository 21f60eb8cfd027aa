"""While1 PBX: local time both ways, parsing, and the signed client against a scripted server."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from werkzeug import Response

from cdr.sources.http import RetryPolicy, SourceApiError
from cdr.sources.pbx.client import PbxClient, local_range
from cdr.sources.pbx.records import hms_seconds, local_to_utc, to_lake_row, uniqueid_epoch
from cdr.values import BadRecord

RO = ZoneInfo("Europe/Bucharest")
FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=1, timeout=(2, 2))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "start,end,expected",
    [
        # Local midnight: the UTC day starts at 02:00 in Bucharest in winter.
        (utc(2026, 11, 20), utc(2026, 11, 21), ["2026-11-20 02:00:00", "2026-11-21 01:59:59"]),
        (utc(2026, 11, 19, 22), utc(2026, 11, 19, 23), ["2026-11-20 00:00:00", "2026-11-20 00:59:59"]),
        # Summer time: +3.
        (utc(2026, 7, 1, 21), utc(2026, 7, 1, 22), ["2026-07-02 00:00:00", "2026-07-02 00:59:59"]),
        # Spring forward (2026-03-29 03:00 -> 04:00 local at 01:00 UTC): consecutive hours stay contiguous.
        (utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), ["2026-03-29 02:00:00", "2026-03-29 02:59:59"]),
        (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), ["2026-03-29 04:00:00", "2026-03-29 04:59:59"]),
        # Fall back (2026-10-25 04:00 -> 03:00 local at 01:00 UTC): the 03:xx wall-clock hour happens twice.
        (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), ["2026-10-25 03:00:00", "2026-10-25 03:59:59"]),
        (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), ["2026-10-25 03:00:00", "2026-10-25 03:59:59"]),
    ],
)
def test_local_range_is_the_pbx_wall_clock_with_an_inclusive_end(start, end, expected):
    assert local_range(start, end, RO) == expected


def test_the_repeated_hour_is_resolved_by_the_uniqueid():
    first, second = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)
    assert local_to_utc("2026-10-25 03:30:00", RO, first.timestamp()) == first
    assert local_to_utc("2026-10-25 03:30:00", RO, second.timestamp()) == second
    assert local_to_utc("2026-10-25 03:30:00", RO) == first  # no hint: the earlier reading
    assert local_to_utc("2026-11-20 00:30:00", RO) == utc(2026, 11, 19, 22, 30)


def test_durations_and_uniqueids():
    assert hms_seconds("00:00:15") == 15 and hms_seconds("01:02:03") == 3723 and hms_seconds("27:00:00") == 97200
    assert hms_seconds("") is None and hms_seconds(None) is None and hms_seconds("1:x:3") is None
    assert uniqueid_epoch("1710401324.480") == 1710401324.0 and uniqueid_epoch(None) is None


def lineage():
    return {
        "_source": "pbx",
        "_timezone": "Europe/Bucharest",
        "_extracted_at": utc(2026, 11, 21),
        "_interval_start": utc(2026, 11, 20),
    }


def test_a_row_keeps_everything_and_gets_utc_times():
    record = {
        "id": "29056",
        "uniqueid": "1710401324.480",
        "time": "2024-03-14 09:28:44",
        "time_end": "2024-03-14 09:29:00",
        "duration": "00:00:16",
        "bill_minutes": 0,
        "transfers": [{"from": "a"}],
        "brand_new_field": {"x": 1},
    }
    row, day = to_lake_row(record, lineage())
    assert row["time_utc"] == utc(2024, 3, 14, 7, 28, 44) and row["time_end_utc"] == utc(2024, 3, 14, 7, 29)
    assert day.isoformat() == "2024-03-14" and row["transfers"] == '[{"from":"a"}]'
    assert json.loads(row["_raw"]) == record


@pytest.mark.parametrize(
    "record,reason",
    [
        ("not an object", "not an object"),
        ({"time": "2026-11-20 10:00:00"}, "no id"),
    ],
)
def test_only_what_is_no_cdr_is_refused_with_a_reason(record, reason):
    with pytest.raises(BadRecord, match=reason):
        to_lake_row(record, lineage())


@pytest.mark.parametrize("record", [{"id": "1", "time": "yesterday"}, {"id": "1"}, {"id": "1", "time": "0000-00-00"}])
def test_a_cdr_whose_time_cannot_be_read_is_kept_in_its_interval(record):
    # accept every CDR: the value stays in _raw, staging counts it and dates the leg by its interval
    row, day = to_lake_row(record, lineage())
    assert row["time_utc"] is None and day == lineage()["_interval_start"].date()
    assert json.loads(row["_raw"]) == record


PHP_VERIFY = r"""
parse_str(stream_get_contents(STDIN), $p);
$given = $p['api_hash']; unset($p['api_hash']);
echo md5(http_build_query($p) . $argv[1]) === $given ? "valid" : "invalid";
"""


def test_requests_are_signed_as_the_php_server_checks_them(httpserver):
    php = shutil.which("php")
    if php is None:
        pytest.fail("php-cli is needed: `make test` installs it (apt-get install php-cli)")
    bodies, pages = [], {"1": ["a", "b"], "2": ["c"]}

    def handler(request):
        bodies.append(request.get_data(as_text=True))
        assert request.headers["Authorization"] == "Bearer t0ken"
        page = request.form["page"]
        return Response(
            json.dumps(
                {
                    "has_error": False,
                    "messages": [],
                    "results": [{"id": i} for i in pages[page]],
                    "pagination": {"row_count": 3, "page_size": 2, "current_page": int(page), "max_page": 2},
                }
            ),
            content_type="application/json",
        )

    httpserver.expect_request("/api/cdr", method="POST").respond_with_handler(handler)
    client = PbxClient(httpserver.url_for("/"), "t0ken", "k3y & more", policy=FAST)
    pages_seen = list(client.cdr_pages(utc(2026, 11, 20), utc(2026, 11, 21)))
    assert [[r["id"] for r in p.rows] for p in pages_seen] == [["a", "b"], ["c"]]
    for body in bodies:
        verdict = subprocess.run(
            [php, "-r", PHP_VERIFY, "k3y & more"], input=body, capture_output=True, text=True, check=True
        ).stdout
        assert verdict == "valid", body
    assert "filters%5Bdate_between%5D%5B0%5D=2026-11-20+02%3A00%3A00" in bodies[0]
    assert "page=2" in bodies[1]


def test_has_error_quotes_the_messages(httpserver):
    httpserver.expect_request("/api/cdr", method="POST").respond_with_json(
        {"has_error": True, "messages": ["Invalid filter: from_idxx"], "pagination": [], "results": []}
    )
    client = PbxClient(httpserver.url_for("/"), "t", "k", policy=FAST)
    with pytest.raises(
        SourceApiError, match=r"PBX: POST .*/api/cdr \(page 1 of filters .*has_error: Invalid filter: from_idxx"
    ):
        list(client.cdr_pages(utc(2026, 11, 20), utc(2026, 11, 21)))


def test_http_errors_are_retried_then_named(httpserver):
    httpserver.expect_request("/api/cdr", method="POST").respond_with_data("upstream down", status=502)
    client = PbxClient(httpserver.url_for("/"), "t", "k", policy=FAST)
    with pytest.raises(SourceApiError, match="gave up after 3 attempts.*HTTP 502: upstream down"):
        list(client.cdr_pages(utc(2026, 11, 20), utc(2026, 11, 21)))
    assert len(httpserver.log) == 3


def test_repr_hides_secrets():
    assert "t0ken" not in repr(PbxClient("http://x", "t0ken", "k3y")) and "k3y" not in repr(
        PbxClient("http://x", "t0ken", "k3y")
    )
