"""What can be a Voicenter CDR (cdr.voicenter.bounds), the lake's int64 (cdr.values.as_int), and the loader that
quarantines a staged line it cannot convert and loads the rest."""

from __future__ import annotations

import hashlib
import json
import math

import pytest

from cdr.values import as_int
from cdr.voicenter.bounds import OutOfBounds, check
from cdr.voicenter.formats import ParseError, parse
from cdr.voicenter.load import load_staged
from tests.helpers import lake_rows

NOW = 1_795_132_800.0  # 2026-11-21T00:00:00Z
GOOD = {
    "ivruniqueid": "2020072818dcDHFJcc804",
    "type": "Queue",
    "status": "ANSWER",
    "time": 1_795_100_000,
    "duration": 33,
    "dialtime": 2,
    "price": 7,
    "queueid": 1234567,
    "seconds_waiting_in_queue": 5,
    "OriginalIvrUniqueID": "201809131730110122A1212",
    "DepartmentID": 123456,
    "IVR": [{"layer_id": 1234, "layer_name": "Main IVR", "layer_number": 0, "Dtmf": 2, "dtmf_order": 1}],
}


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"duration": 0, "dialtime": 0, "seconds_waiting_in_queue": 0},
        {"duration": 7 * 86_400},
        {"time": 946_684_800},  # 2000-01-01, the earliest
        {"time": int(NOW) + 86_400},  # a day of clock skew
        {"price": 2**63 - 1},
        {"price": -(2**63)},
        {"time": "1795100000", "duration": "33", "price": "7"},  # a form's strings
        {"duration": "", "OriginalIvrUniqueID": "", "time": None},  # a form's empty fields
        {"IVR": json.dumps(GOOD["IVR"])},  # a form's IVR, a JSON string
        {"IVR": []},
        {"ivruniqueid": "x" * 128},
        {"unknown_new_field": 1.5, "another": True},  # fields the vendor may add
    ],
)
def test_what_a_cdr_can_hold_passes(changes):
    cdr = {**GOOD, **changes}
    assert check(cdr, NOW) is cdr


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"duration": 99_999_999_999_999}, "duration"),
        ({"duration": "99999999999999999999"}, "duration"),  # 20 digits, a form
        ({"duration": -1}, "duration"),
        ({"dialtime": 7 * 86_400 + 1}, "dialtime"),
        ({"seconds_waiting_in_queue": -5}, "seconds_waiting_in_queue"),
        ({"time": 1e20}, "time"),
        ({"time": 946_684_799}, "time"),
        ({"time": int(NOW) + 86_401}, "time"),
        ({"time": "-1"}, "time"),
        ({"price": 2**63}, "price"),
        ({"price": float(2**64)}, "price"),
        ({"price": "-9223372036854775809"}, "price"),
        ({"queueid": 2**70}, "queueid"),  # any integer outside int64, wherever it sits
        ({"duration": math.nan}, "duration"),
        ({"price": math.inf}, "price"),
        ({"IVR": [{"layer_id": -math.inf}]}, "IVR"),
        ({"ivruniqueid": 12345}, "ivruniqueid"),
        ({"ivruniqueid": "x" * 129}, "ivruniqueid"),
        ({"ivruniqueid": "a\nb"}, "ivruniqueid"),
        ({"ivruniqueid": "  "}, "ivruniqueid"),
        ({"OriginalIvrUniqueID": ["a"]}, "OriginalIvrUniqueID"),
        ({"OriginalIvrUniqueID": 7}, "OriginalIvrUniqueID"),
        ({"IVR": [{"layer": {"deeper": 1}}]}, "IVR"),
        ({"IVR": [[1]]}, "IVR"),
        ({"IVR": nested(5000)}, "IVR"),
        ({"caller": {"a": 1}}, "caller"),
        ({"caller": ["0501234567"]}, "caller"),
        ({"record": "x" * 8193}, "record"),
        ({"IVR": "x" * 65_537}, "IVR"),
        ({"caller": b"bytes"}, "caller"),
    ],
)
def test_what_cannot_be_a_cdr_is_refused_naming_the_field_not_the_value(changes, field):
    with pytest.raises(OutOfBounds) as refused:
        check({**GOOD, **changes}, NOW)
    message = str(refused.value)
    assert field in message
    assert "99999" not in message and "xxxx" not in message


@pytest.mark.parametrize(
    "cdr",
    [None, [], {}, [GOOD], "text", {"caller": "0501234567"}, {**GOOD, **{f"f{i}": i for i in range(200)}}, {("a",): 1}],
)
def test_not_an_object_of_fields_is_refused(cdr):
    with pytest.raises(OutOfBounds):
        check(cdr, NOW)


@pytest.mark.parametrize(
    "body",
    [
        b'{"ivruniqueid": "a", "duration": NaN}',
        b'{"ivruniqueid": "a", "duration": Infinity}',
        b'{"ivruniqueid": "a", "caller": "\\ud800"}',
        b'{"ivruniqueid": "a", "IVR": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"ivruniqueid": "a", "price": 1e400}',
    ],
)
def test_json_that_stdlib_json_would_let_through_is_a_parse_error(body):
    with pytest.raises(ParseError):
        parse("json", body, NOW)


def test_a_parse_error_never_quotes_the_body():
    marker = "0549998877-MARKER"
    bodies = [
        ("form", f"ivruniqueid=x&bad{marker}".encode()),
        ("json", f'{{"ivruniqueid": "x", "caller": "{marker}" '.encode()),
        (
            "xmlrpc",
            f"<methodResponse><fault><value><struct><member><name>faultString</name><value>"
            f"<string>{marker}</string></value></member><member><name>faultCode</name><value><int>1"
            f"</int></value></member></struct></value></fault></methodResponse>".encode(),
        ),
        ("json", f'{{"ivruniqueid": "{marker}", "duration": -4}}'.encode()),
    ]
    for fmt, body in bodies:
        with pytest.raises(ParseError) as refused:
            parse(fmt, body, NOW)
        assert marker not in str(refused.value) and "054999" not in str(refused.value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (2**63, None),
        (-(2**63) - 1, None),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("1" * 5000, None),
        (1e20, None),
        (42.0, 42),
        (" 7 ", 7),
        ("٣", None),
        (True, None),
        (math.nan, None),
        (math.inf, None),
    ],
)
def test_as_int_stays_inside_int64(value, expected):
    assert as_int(value) == expected


def staged_line(cdr, received_at="2026-11-21T00:00:05+00:00", raw: bytes | None = None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps({"received_at": received_at, "format": "json", "cdr": cdr}).encode() + b"\n"


def test_the_loader_quarantines_lines_it_cannot_convert_and_loads_the_rest(data_dir):
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    good = [{**GOOD, "ivruniqueid": f"good-{n}"} for n in range(3)]
    # What an older receiver staged before the bounds existed (stdlib json wrote NaN as is).
    bad = [
        staged_line({**GOOD, "ivruniqueid": "t", "time": 1e20}),
        staged_line({**GOOD, "ivruniqueid": "d", "duration": 10**19}),
        staged_line(
            None,
            raw=b'{"received_at": "2026-11-21T00:00:05+00:00", "format": "json", '
            b'"cdr": {"ivruniqueid": "n", "duration": NaN}}\n',
        ),
        staged_line(None, raw=b"not json at all\n"),
        staged_line({**GOOD, "ivruniqueid": "r"}, received_at="yesterday"),
    ]
    first = landing / "20261121T000000-aaaaaaaaaaaa.jsonl"
    first.write_bytes(staged_line(good[0]) + b"".join(bad[:3]) + staged_line(good[1]) + b"".join(bad[3:]))
    second = landing / "20261121T000005-bbbbbbbbbbbb.jsonl"
    second.write_bytes(staged_line(good[2]))

    assert load_staged() == {"segments": 2, "cdrs": 3, "quarantined": 5}
    assert sorted(r["ivruniqueid"] for r in lake_rows(data_dir, "voicenter")) == ["good-0", "good-1", "good-2"]
    assert list(landing.glob("*.jsonl")) == []  # neither segment is left behind to block the next run
    kept = {p.name: p.read_bytes() for p in (data_dir / "quarantine" / "voicenter").rglob("*.bin")}
    assert sorted(kept.values()) == sorted(bad)  # byte for byte
    for line in bad:
        note = json.loads(
            (
                next((data_dir / "quarantine" / "voicenter").glob("*")) / f"{hashlib.sha256(line).hexdigest()}.json"
            ).read_text()
        )
        assert note["segment"] == first.name and note["reason"].startswith("staged line unreadable")
        assert "not json at all" not in note["reason"] and "yesterday" not in note["reason"]
    assert load_staged() == {"segments": 0, "cdrs": 0, "quarantined": 0}


def test_the_loader_takes_the_time_bound_from_the_line_not_from_today(data_dir):
    """A CDR staged long ago is judged against when it was received, so a backlog loaded late still loads."""
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    received = "2026-11-21T00:00:05+00:00"
    ok = {**GOOD, "ivruniqueid": "ok", "time": int(NOW) + 3600}
    late = {**GOOD, "ivruniqueid": "future", "time": int(NOW) + 3 * 86_400}
    (landing / "20261121T000000-cccccccccccc.jsonl").write_bytes(
        staged_line(ok, received) + staged_line(late, received)
    )
    assert load_staged()["cdrs"] == 1
    assert [r["ivruniqueid"] for r in lake_rows(data_dir, "voicenter")] == ["ok"]
