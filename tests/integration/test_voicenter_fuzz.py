"""A fuzz corpus of hostile JSON, XML-RPC and form bodies (Hypothesis) against a real cdr-receiver process.

Every body must end as Err 0 (staged), Err 1 (HTTP 400, kept in quarantine byte for byte) or 413, never a 500 or a
dropped connection, with /healthz green throughout; whatever was acknowledged must be staged byte for byte and
load into the lake with nothing quarantined, since the receiver acknowledges only what is a CDR by
cdr.sources.voicenter.bounds and the loader quarantines only what is not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import xmlrpc.client
from urllib.parse import quote_from_bytes

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdr.sources.voicenter.load import load_staged
from launch import start_receiver

TOKEN = "fuzz-token-0123456789abcdefghijklmnopqrstuv"
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
ANSWER_ERR = {200: 0, 400: 1, 413: 1}
# Any code point, lone surrogates included (JSON can escape them; XML and UTF-8 cannot carry them).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
FIELDS = [
    "ivruniqueid",
    "OriginalIvrUniqueID",
    "time",
    "duration",
    "dialtime",
    "seconds_waiting_in_queue",
    "price",
    "caller",
    "target",
    "queueid",
    "IVR",
    "status",
    "type",
]
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 1795132800, 10**20]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ANY_TEXT, st.just("VC-1"))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)),
    max_leaves=12,
)
CDRS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), ANY_TEXT), VALUES, max_size=10).map(
    lambda d: d if "ivruniqueid" in d else {"ivruniqueid": "VC-fuzz", **d}
)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz") / "data"
    with start_receiver(str(data), TOKEN) as running:
        running.data = data
        running.session = requests.Session()
        running.acknowledged = []
        running.outcomes = set()
        yield running


def send(receiver, body: bytes, content_type: str | None, fmt: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = receiver.session.post(
        f"{receiver.url}/voicenter/cdr", params={"token": TOKEN}, data=body, headers=headers, timeout=30
    )
    assert response.status_code in ANSWER_ERR, (response.status_code, response.text[:300])
    if fmt == "xmlrpc" and content_type:
        err = xmlrpc.client.loads(response.text)[0][0]["Err"]
    elif fmt == "form" and content_type:
        err = int(response.text.split("&")[0].removeprefix("Err="))
    elif content_type:
        err = response.json()["Err"]
    else:
        err = ANSWER_ERR[response.status_code]
    assert err == ANSWER_ERR[response.status_code]
    receiver.outcomes.add((fmt, response.status_code))
    if response.status_code == 200:
        receiver.acknowledged.append(body)
    elif response.status_code == 400:
        digest = hashlib.sha256(body).hexdigest()
        kept = list((receiver.data / "quarantine" / "voicenter").glob(f"*/{digest}.bin"))
        assert kept and kept[0].read_bytes() == body
    assert receiver.session.get(f"{receiver.url}/healthz", timeout=10).status_code == 200


def deepen(body: bytes, depth: int) -> bytes:
    return b'{"ivruniqueid": "VC-deep", "IVR": ' + b"[" * depth + body + b"]" * depth + b"}"


@st.composite
def json_bodies(draw) -> bytes:
    cdr = draw(CDRS)
    # allow_nan: NaN and Infinity as literals; ensure_ascii: lone surrogates as \ud800 escapes.
    body = json.dumps(cdr, allow_nan=True, ensure_ascii=True).encode()
    how = draw(st.sampled_from(["as is", "as is", "truncated", "spliced", "deep", "binary"]))
    if how == "truncated":
        body = body[: draw(st.integers(0, len(body)))]
    elif how == "spliced":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(max_size=8)) + body[at:]
    elif how == "deep":
        body = deepen(body, draw(st.sampled_from([3, 100, 1023, 1024, 5000, 40_000])))
    elif how == "binary":
        body = draw(st.binary(max_size=200))
    return body


def xml_text(text: str) -> str:
    # Surrogates and control characters stay: XML cannot carry them, and the parser's refusal is worth sending.
    return text.replace("&", "&amp;").replace("<", "&lt;")


def xml_value(value, draw) -> str:
    if value is None:
        return "<value><nil/></value>"
    if isinstance(value, bool):
        return f"<value><boolean>{int(value)}</boolean></value>"
    if isinstance(value, int):
        tag = draw(st.sampled_from(["int", "i4", "i8"]))
        return f"<value><{tag}>{value}</{tag}></value>"
    if isinstance(value, float):
        return f"<value><double>{value!r}</double></value>"
    if isinstance(value, str):
        kind = draw(st.sampled_from(["string", "string", "base64", "dateTime.iso8601"]))
        return f"<value><{kind}>{xml_text(value)}</{kind}></value>"
    if isinstance(value, list):
        return "<value><array><data>" + "".join(xml_value(v, draw) for v in value) + "</data></array></value>"
    members = "".join(f"<member><name>{xml_text(str(k))}</name>{xml_value(v, draw)}</member>" for k, v in value.items())
    return f"<value><struct>{members}</struct></value>"


@st.composite
def xmlrpc_bodies(draw) -> bytes:
    cdr = draw(CDRS)
    inner = xml_value(cdr, draw)
    how = draw(st.sampled_from(["call", "call", "response", "fault", "deep", "entities", "truncated", "binary"]))
    if how == "deep":
        depth = draw(st.sampled_from([10, 1000, 5000]))
        inner = (
            "<value><struct><member><name>ivruniqueid</name><value><string>VC-d</string></value></member>"
            "<member><name>IVR</name>"
            + "<value><array><data>" * depth
            + "</data></array></value>" * depth
            + "</member></struct></value>"
        )
    if how == "response":
        body = f"<?xml version='1.0'?><methodResponse><params><param>{inner}</param></params></methodResponse>"
    elif how == "fault":
        body = xmlrpc.client.dumps(xmlrpc.client.Fault(4, json.dumps(cdr)[:50]), methodresponse=True)
    else:
        body = (
            f"<?xml version='1.0'?><methodCall><methodName>{xml_text(draw(ANY_TEXT))}</methodName><params>"
            f"<param>{inner}</param></params></methodCall>"
        )
    if how == "entities":
        body = (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">'
            '<!ENTITY e SYSTEM "file:///etc/passwd">]>' + body.split("?>", 1)[1].replace("VC-", "&b;&e;")
        )
    encoded = body.encode("utf-8", "surrogatepass")
    if how == "truncated":
        encoded = encoded[: draw(st.integers(0, len(encoded)))]
    elif how == "binary":
        encoded = draw(st.binary(max_size=200))
    return encoded


@st.composite
def form_bodies(draw) -> bytes:
    cdr = draw(CDRS)
    pairs = []
    for key, value in cdr.items():
        text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)
        pairs.append(
            quote_from_bytes(key.encode("utf-8", "surrogatepass"))
            + "="
            + quote_from_bytes(text.encode("utf-8", "surrogatepass"))
        )
    body = "&".join(pairs).encode()
    how = draw(st.sampled_from(["as is", "as is", "raw bytes in", "separators", "many fields", "binary"]))
    if how == "raw bytes in":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(max_size=8)) + body[at:]
    elif how == "separators":
        body += draw(st.sampled_from([b"&", b"&&", b"=", b"==&", b"%", b"%zz", b"%ff%fe", b";x"]))
    elif how == "many fields":
        body += b"".join(b"&f%d=1" % n for n in range(draw(st.sampled_from([150, 201, 5000]))))
    elif how == "binary":
        body = draw(st.binary(max_size=200))
    return body


CONTENT_TYPES = {
    "json": ["application/json", "text/json; charset=utf-8", None],
    "xmlrpc": ["text/xml", "application/xml", None],
    "form": ["application/x-www-form-urlencoded", None],
}


@FUZZ
@given(body=json_bodies(), content_type=st.sampled_from(CONTENT_TYPES["json"]))
def test_hostile_json(receiver, body, content_type):
    send(receiver, body, content_type, "json")


@FUZZ
@given(body=xmlrpc_bodies(), content_type=st.sampled_from(CONTENT_TYPES["xmlrpc"]))
def test_hostile_xmlrpc(receiver, body, content_type):
    send(receiver, body, content_type, "xmlrpc")


@FUZZ
@given(body=form_bodies(), content_type=st.sampled_from(CONTENT_TYPES["form"]))
def test_hostile_form(receiver, body, content_type):
    send(receiver, body, content_type, "form")


def test_the_corpus_reached_every_answer_and_what_was_acknowledged_loads(receiver, monkeypatch):
    # The corpus must hold both CDRs and non-CDRs of every format, or it proves little.
    assert {(fmt, status) for fmt in CONTENT_TYPES for status in (200, 400)} <= receiver.outcomes
    receiver.stop()  # seals the open segment
    staged = []
    for segment in (receiver.data / "landing" / "voicenter").glob("*.jsonl"):
        for line in segment.read_bytes().splitlines():
            record = json.loads(line)
            staged.append(record["body"].encode() if "body" in record else base64.b64decode(record["body_base64"]))
    assert sorted(staged) == sorted(receiver.acknowledged)  # every byte of every acknowledged body
    monkeypatch.setenv("CDR_DATA_DIR", str(receiver.data))
    summary = load_staged()
    assert summary["quarantined"] == 0
    assert summary["cdrs"] == len(receiver.acknowledged)
    log = (receiver.data / "logs" / "receiver.log").read_text()
    assert "Traceback" not in log and "unexpected" not in log
