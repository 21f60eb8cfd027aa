"""What is a Voicenter CDR (voicenter.bounds) and how each body is read (voicenter.formats), the lake's
int64 (cdr.values.as_int), and the loader, which writes every CDR whatever its values and quarantines only what is
not one (issue 28: an Err 1, or a quarantined line, is a call lost for good)."""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import math
import xmlrpc.client

import orjson
import pytest
from post_voicenter import encode

from cdr.sources.voicenter import bounds
from cdr.sources.voicenter.bounds import MAX_BODY, OutOfBounds, check
from cdr.sources.voicenter.formats import ParseError, detect, parse, staged_line
from cdr.sources.voicenter.load import load_staged
from cdr.values import as_int
from tests.helpers import lake_rows, two_hour_ai_cdr, voicenter_sample

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
# Voicenter's current examples: the aiData block (published alone, without the call's fields) and the Call Log's
# nested blocks, beside a webhook CDR.
AI_DATA = voicenter_sample("cdr_notification_aiData_v_b2a4031.json")["aiData"]
CALL_LOG = voicenter_sample("call_log_response_216ed4e.json")["CDR_LIST"][0]


def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"aiData": AI_DATA},
        {"aiData": json.dumps(AI_DATA)},  # what integrators report: aiData as a JSON string
        {"CustomData": {"OriginalIvrUniqueID": "x", "AiExists": "true"}, "DTMFData": [{"LayerName": "a", "DTMF": 1}]},
        {"CustomData": CALL_LOG["CustomData"], "DTMFData": CALL_LOG["DTMFData"]},
        {"unknown": {"a": [{"b": {"c": [1, 2.5, None, True]}}]}},
        {"time": 0, "duration": -1, "dialtime": 10**30, "seconds_waiting_in_queue": "twenty"},
        {"price": 10**29, "queueid": 2**70, "DepartmentID": -(2**80)},
        {"duration": 12.5, "time": 1e20, "price": -0.0},
        {"caller": {"a": 1}, "target": ["0501234567"], "OriginalIvrUniqueID": ["a"], "record": "x" * 100_000},
        {"IVR": [[[[1]]]], "status": None, "type": 7},
        {"ivruniqueid": "x" * 128},
        {"ivruniqueid": 2020072818},  # a number: the warehouse keys on its text
        {f"field{n}": n for n in range(2000)},
        {"deep": nested(bounds.MAX_DEPTH - 1)},  # the CDR object is the first level
    ],
)
def test_every_cdr_passes_whatever_its_fields_hold(changes):
    cdr = {**GOOD, **changes}
    assert check(cdr) is cdr


@pytest.mark.parametrize(
    "cdr",
    [
        None,
        [],
        {},
        [GOOD],
        "text",
        7,
        {"caller": "0501234567"},  # no id
        {**GOOD, "ivruniqueid": ""},
        {**GOOD, "ivruniqueid": "   "},
        {**GOOD, "ivruniqueid": "x" * 129},
        {**GOOD, "ivruniqueid": "a\nb"},
        {**GOOD, "ivruniqueid": None},
        {**GOOD, "ivruniqueid": True},
        {**GOOD, "ivruniqueid": 1.5},
        {**GOOD, "ivruniqueid": ["a"]},
        {**GOOD, "ivruniqueid": 2**63},
        {**GOOD, "deep": nested(bounds.MAX_DEPTH)},
        {**GOOD, "IVR": nested(5000)},
    ],
)
def test_what_is_not_a_cdr_is_refused(cdr):
    with pytest.raises(OutOfBounds) as refused:
        check(cdr)
    assert "xxxx" not in str(refused.value)


def test_voicenter_examples_nest_well_inside_the_depth_limit():
    def depth(value) -> int:
        if isinstance(value, dict):
            return 1 + max(map(depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(depth, value), default=0)
        return 0

    assert depth({**GOOD, "aiData": AI_DATA}) == 6 < bounds.MAX_DEPTH


def test_a_two_hour_calls_cdr_fits_the_body_limit_in_every_format_and_the_docstring_says_its_size():
    cdr = two_hour_ai_cdr()
    assert len(cdr["aiData"]["transcript"]) == 2400
    sizes = {
        "JSON": len(json.dumps(cdr, ensure_ascii=False).encode()),
        "JSON with every Hebrew letter escaped": len(encode(cdr, "json")[0]),
        "a form": len(encode(cdr, "form")[0]),
        "XML-RPC": len(encode(cdr, "xmlrpc")[0]),
    }
    assert sizes["JSON"] < sizes["JSON with every Hebrew letter escaped"] < sizes["a form"] < sizes["XML-RPC"]
    doc = " ".join(bounds.__doc__.split())
    for said, size in sizes.items():
        assert f"{size / 1e6:.1f} MB as {said}" in doc, (said, size)
        assert size < MAX_BODY
    assert sizes["XML-RPC"] > MAX_BODY / 2  # sized for it, not far past it
    for fmt in ("json", "xmlrpc", "form"):
        body, content_type = encode(cdr, fmt)
        decoded = parse(fmt, body, content_type)
        assert decoded.cdr["ivruniqueid"] == "VC-two-hours"
        ai = decoded.cdr["aiData"]
        ai = json.loads(ai) if fmt == "form" else ai
        assert ai == cdr["aiData"]


def test_the_vendor_examples_are_cdrs_in_every_format():
    bodies = [
        voicenter_sample("cdr_notification_incoming_queue_docs_22ff9c5.json"),
        voicenter_sample("cdr_notification_incoming_queue_v_216ed4e.json"),
        voicenter_sample("cdr_notification_outgoing_v_216ed4e.json"),
        {**voicenter_sample("cdr_notification_outgoing_v_b2a4031.json"), "aiData": AI_DATA},
        {**GOOD, "CustomData": CALL_LOG["CustomData"], "DTMFData": CALL_LOG["DTMFData"]},
    ]
    for cdr in bodies:
        for fmt in ("json", "xmlrpc", "form"):
            body, content_type = encode(cdr, fmt)
            decoded = parse(fmt, body, content_type)
            assert decoded.cdr["ivruniqueid"] == cdr["ivruniqueid"]
            assert decoded.exact == (fmt == "json")
            if fmt == "json":
                assert decoded.cdr == cdr


@pytest.mark.parametrize(
    "body, content_type, expected",
    [
        # A byte-order mark, and the encodings JSON once allowed.
        (codecs.BOM_UTF8 + b'{"ivruniqueid": "bom", "caller": "\xd7\xa9"}', "application/json", {"caller": "ש"}),
        ('{"ivruniqueid": "u16", "caller": "ש"}'.encode("utf-16"), "application/json", {"caller": "ש"}),
        ('{"ivruniqueid": "u32", "caller": "ש"}'.encode("utf-32"), "", {"caller": "ש"}),
        # The charset the Content-Type names; without one, bytes UTF-8 cannot read become U+FFFD.
        ('{"ivruniqueid": "l1", "caller": "café"}'.encode("latin-1"), "application/json; charset=ISO-8859-1", {}),
        (b'{"ivruniqueid": "bad", "caller": "\xff05"}', "application/json", {"caller": "\ufffd05"}),
        # Values strict JSON cannot hold, as text.
        (b'{"ivruniqueid": "n", "duration": NaN, "price": -Infinity, "x": Infinity}', "application/json", {}),
        (b'{"ivruniqueid": "big", "price": 1e400}', "application/json", {"price": "1e400"}),
        (b'{"ivruniqueid": "s", "caller": "\\ud800x"}', "application/json", {"caller": "\ufffdx"}),
        (b'{"ivruniqueid": "i", "price": ' + b"9" * 30 + b"}", "application/json", {"price": "9" * 30}),
    ],
)
def test_json_that_is_not_strict_utf8_json_is_still_a_cdr_read_leniently(body, content_type, expected):
    decoded = parse(detect(content_type, body), body, content_type)
    assert not decoded.exact
    orjson.dumps(decoded.cdr)  # strict JSON, as the staged line needs
    for field, value in expected.items():
        assert decoded.cdr[field] == value
    if b"NaN" in body:
        assert (decoded.cdr["duration"], decoded.cdr["price"], decoded.cdr["x"]) == ("NaN", "-Infinity", "Infinity")
    if b"ISO-8859-1" in content_type.encode():
        assert decoded.cdr["caller"] == "café"


def xmlrpc_call(encoding: str, caller: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><methodCall><methodName>cdr</methodName><params><param>'
        f"<value><struct><member><name>ivruniqueid</name><value><string>x</string></value></member>"
        f"<member><name>caller</name><value><string>{caller}</string></value></member>"
        f"<member><name>record</name><value><base64>AAEC</base64></value></member>"
        f"<member><name>when</name><value><dateTime.iso8601>20260707T10:00:00</dateTime.iso8601></value></member>"
        f"<member><name>price</name><value><int>{'9' * 30}</int></value></member>"
        f"<member><name>duration</name><value><double>nan</double></value></member>"
        f"</struct></value></param></params></methodCall>"
    ).encode(encoding)


@pytest.mark.parametrize("encoding, caller", [("ISO-8859-1", "café"), ("windows-1255", "שלום"), ("UTF-8", "שלום")])
def test_xmlrpc_is_read_in_the_encoding_its_declaration_names(encoding, caller):
    decoded = parse("xmlrpc", xmlrpc_call(encoding, caller), "text/xml")
    assert decoded.cdr == {
        "ivruniqueid": "x",
        "caller": caller,
        "record": "AAEC",
        "when": "20260707T10:00:00",
        "price": "9" * 30,
        "duration": "NaN",
    }
    orjson.dumps(decoded.cdr)


def test_a_form_in_any_bytes_is_a_cdr():
    raw = b"ivruniqueid=f1&caller=\xff\xfe&bare&name=%E9t%E9"
    assert parse("form", raw, "application/x-www-form-urlencoded").cdr == {
        "ivruniqueid": "f1",
        "caller": "\ufffd\ufffd",
        "bare": "",
        "name": "\ufffdt\ufffd",
    }
    latin = parse("form", raw, "application/x-www-form-urlencoded; charset=iso-8859-1").cdr
    assert (latin["caller"], latin["name"]) == ("ÿþ", "été")


def test_a_body_its_content_type_mislabels_is_read_as_what_it_is():
    body = json.dumps(GOOD).encode()
    form = "application/x-www-form-urlencoded"
    decoded = parse(detect(form, body), body, form)
    assert (decoded.fmt, decoded.cdr) == ("json", GOOD)
    xml, _ = encode({**GOOD, "IVR": "[]"}, "xmlrpc")
    assert parse("json", xml, "application/json").fmt == "xmlrpc"


@pytest.mark.parametrize(
    "fmt, body",
    [
        ("json", b'{"ivruniqueid": "broken'),
        ("json", b'["a list"]'),
        ("json", b'{"ivruniqueid": "a", "IVR": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        ("json", b"\x00\x01\x02"),
        ("xmlrpc", b"<methodCall><methodName>x</methodName><params><param><value><int>7</int></value></param>"),
        ("xmlrpc", xmlrpc.client.dumps(xmlrpc.client.Fault(4, "x"), methodresponse=True).encode()),
        ("form", b"caller=0501234567&duration=3"),
        ("form", b"%%%&&&="),
        ("form", b"&".join(b"f%d=1" % n for n in range(bounds.MAX_FORM_FIELDS + 1)) + b"&ivruniqueid=x"),
    ],
)
def test_what_cannot_be_read_as_a_cdr_is_a_parse_error(fmt, body):
    with pytest.raises(ParseError):
        parse(fmt, body)


def test_a_parse_error_never_quotes_the_body():
    marker = "0549998877-MARKER"
    bodies = [
        ("form", f"caller={marker}".encode()),
        ("json", f'{{"ivruniqueid": "x", "caller": "{marker}" '.encode()),
        (
            "xmlrpc",
            f"<methodResponse><fault><value><struct><member><name>faultString</name><value>"
            f"<string>{marker}</string></value></member><member><name>faultCode</name><value><int>1"
            f"</int></value></member></struct></value></fault></methodResponse>".encode(),
        ),
        ("json", f'{{"ivruniqueid": "{marker}\\n"}}'.encode()),
    ]
    for fmt, body in bodies:
        with pytest.raises(ParseError) as refused:
            parse(fmt, body)
        assert marker not in str(refused.value) and "054999" not in str(refused.value)


def test_the_staged_line_keeps_the_body_byte_for_byte_beside_the_fields():
    for body, fmt in [
        (b'{"ivruniqueid": "a",\n  "x": 1.50}', "json"),
        (codecs.BOM_UTF8 + b'{"ivruniqueid": "b"}', "json"),
        (b"ivruniqueid=c&caller=\xff", "form"),
        (xmlrpc_call("ISO-8859-1", "café"), "xmlrpc"),
    ]:
        decoded = parse(fmt, body)
        line = json.loads(staged_line("2026-11-21T00:00:05+00:00", decoded, body))
        kept = line["body"].encode() if "body" in line else base64.b64decode(line["body_base64"])
        assert kept == body
        assert line["cdr"] == decoded.cdr and line.get("exact", True) == decoded.exact


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
        ("+7", 7),
        ("٣", None),
        ("1e3", None),
        ("12 s", None),
        (True, None),
        (math.nan, None),
        (math.inf, None),
        # Fractions: half away from zero (Python's round() would give 12, 2, -12, 0).
        (12.5, 13),
        (2.5, 3),
        (-12.5, -13),
        (0.5, 1),
        (-0.5, -1),
        (12.49, 12),
        (0.49999999999999994, 0),  # just under a half, exactly as the float holds it
        ("12.5", 13),
        ("-2.5", -3),
        ("7.49", 7),
        (".5", 1),
        ("9223372036854775807.4", 2**63 - 1),
        ("9223372036854775807.5", None),
    ],
)
def test_as_int_rounds_fractions_half_away_from_zero_and_stays_inside_int64(value, expected):
    assert as_int(value) == expected


def staged(cdr, received_at="2026-11-21T00:00:05+00:00", fmt="json", body: bytes | None = None) -> bytes:
    body = json.dumps(cdr).encode() if body is None else body
    return staged_line(received_at, parse(fmt, body), body)


def test_the_loader_writes_every_cdr_and_quarantines_only_what_is_not_one(data_dir):
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    odd = [
        {**GOOD, "ivruniqueid": "zero-time", "time": 0, "duration": -5},
        {**GOOD, "ivruniqueid": "huge", "time": 10**30, "price": 10**29, "dialtime": "soon"},
        {**GOOD, "ivruniqueid": "half", "duration": 12.5, "price": "7.5"},
        {**GOOD, "ivruniqueid": "ai", "aiData": AI_DATA, "CustomData": {"AiExists": "true"}},
    ]
    nan = b'{"ivruniqueid": "nan", "duration": NaN, "caller": "0501234567"}'
    lines = [staged(cdr) for cdr in odd] + [staged(None, body=nan)]
    lines.append(staged(None, fmt="form", body=b"ivruniqueid=form&caller=\xff&duration=7"))
    lines.append(staged(None, fmt="xmlrpc", body=xmlrpc_call("ISO-8859-1", "café")))
    # Not CDRs: what an older receiver staged before the rule, or bytes that are not a line at all.
    bad = [
        b'{"received_at": "2026-11-21T00:00:05+00:00", "format": "json", "cdr": {"caller": "0501234567"}}\n',
        b'{"received_at": "2026-11-21T00:00:05+00:00", "format": "json", "cdr": {"ivruniqueid": "  "}}\n',
        b"not json at all\n",
        staged({**GOOD, "ivruniqueid": "r"}, received_at="yesterday"),
    ]
    first = landing / "20261121T000000-aaaaaaaaaaaa.jsonl"
    first.write_bytes(b"".join(lines[:3]) + b"".join(bad) + b"".join(lines[3:]))

    assert load_staged() == {"segments": 1, "cdrs": len(lines), "quarantined": len(bad)}
    rows = {r["ivruniqueid"]: r for r in lake_rows(data_dir, "voicenter")}
    assert sorted(rows) == sorted(["zero-time", "huge", "half", "ai", "nan", "form", "x"])
    # What a typed column cannot hold is null there and kept in _raw; a fraction of a second is rounded.
    assert (rows["zero-time"]["time"], rows["zero-time"]["duration"]) == (0, -5)
    assert (rows["huge"]["time"], rows["huge"]["price"], rows["huge"]["dialtime"]) == (None, None, None)
    huge_raw = json.loads(rows["huge"]["_raw"])
    # Integers past 64 bits are kept as their digits, and the body as sent beside them.
    assert (huge_raw["time"], huge_raw["price"], huge_raw["dialtime"]) == (str(10**30), str(10**29), "soon")
    assert json.loads(huge_raw["_received_body"])["time"] == 10**30
    assert (rows["half"]["duration"], rows["half"]["price"]) == (13, 8)
    assert json.loads(rows["ai"]["_raw"])["aiData"] == AI_DATA
    assert rows["nan"]["duration"] is None and json.loads(rows["nan"]["_raw"])["duration"] == "NaN"
    # A CDR whose time cannot date it lands on the day it was received (GOOD's time is 2026-11-19).
    days = {
        row["ivruniqueid"]: folder.name
        for folder in (data_dir / "lake" / "voicenter").glob("date=*")
        for row in lake_rows(folder.parent.parent.parent, f"voicenter/{folder.name}")
    }
    assert days["zero-time"] == days["huge"] == days["nan"] == "date=2026-11-21"
    assert days["half"] == days["ai"] == "date=2026-11-19"
    # Where the fields are not the body's own JSON, _raw keeps the body as it arrived beside them.
    assert "_received_body" not in json.loads(rows["ai"]["_raw"])
    nan_raw = json.loads(rows["nan"]["_raw"])
    assert nan_raw["_received_body"].encode() == nan
    form_raw = json.loads(rows["form"]["_raw"])
    assert base64.b64decode(form_raw["_received_body_base64"]) == b"ivruniqueid=form&caller=\xff&duration=7"
    assert form_raw["duration"] == "7" and rows["form"]["duration"] == 7
    xml_raw = json.loads(rows["x"]["_raw"])
    assert base64.b64decode(xml_raw["_received_body_base64"]) == xmlrpc_call("ISO-8859-1", "café")
    assert rows["x"]["caller"] == "café"

    kept = sorted(p.read_bytes() for p in (data_dir / "quarantine" / "voicenter").rglob("*.bin"))
    assert kept == sorted(bad)  # byte for byte
    for line in bad:
        note = json.loads(
            next((data_dir / "quarantine" / "voicenter").glob(f"*/{hashlib.sha256(line).hexdigest()}.json")).read_text()
        )
        assert note["segment"] == first.name and note["reason"].startswith("staged line unreadable")
        assert "not json at all" not in note["reason"] and "yesterday" not in note["reason"]
    assert list(landing.glob("*.jsonl")) == []
    assert load_staged() == {"segments": 0, "cdrs": 0, "quarantined": 0}


def test_lines_staged_before_bodies_were_kept_still_load(data_dir):
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    old = json.dumps({"received_at": "2026-11-21T00:00:05+00:00", "format": "form", "cdr": GOOD}).encode() + b"\n"
    (landing / "20261121T000000-cccccccccccc.jsonl").write_bytes(old)
    assert load_staged()["cdrs"] == 1
    (row,) = lake_rows(data_dir, "voicenter")
    assert json.loads(row["_raw"]) == GOOD


def test_fields_in_any_casing_are_the_cdrs_fields(data_dir):
    # An account may spell the documented names otherwise (the vendor's own texts write DepartmentID and
    # DepartmentId); the id in any casing makes a CDR, and every field reaches its column.
    cased = {
        "IvrUniqueId": "cased-1",
        "Caller": "0501234567",
        "TIME": 1795161600,
        "Duration": 42,
        "Status": "ANSWER",
        "DepartmentId": 7,
        "Type": "Incoming Call",
        "did": "0722776772",
    }
    assert check(cased) is cased
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    (landing / "20261121T000000-dddddddddddd.jsonl").write_bytes(staged(cased))
    assert load_staged()["cdrs"] == 1
    (row,) = lake_rows(data_dir, "voicenter")
    assert (row["ivruniqueid"], row["caller"], row["time"], row["duration"], row["status"]) == (
        "cased-1",
        "0501234567",
        1795161600,
        42,
        "ANSWER",
    )
    assert (row["DepartmentID"], row["type"], row["did"]) == ("7", "Incoming Call", "0722776772")
    assert json.loads(row["_raw"]) == cased  # as sent
