"""cdr-receiver as Voicenter meets it: a real process on loopback, its staging on disk, then the loader."""

from __future__ import annotations

import base64
import codecs
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import xmlrpc.client
from contextlib import contextmanager

import pytest
import requests
from post_voicenter import acknowledged, encode, post

from cdr.sources.voicenter.bounds import MAX_BODY
from cdr.sources.voicenter.load import load_staged
from launch import start_receiver
from tests.helpers import lake_rows, two_hour_ai_cdr, voicenter_sample

TOKEN = "t0ken-for-tests-0123456789abcdefghij"


def cdr(n: int | str, **fields) -> dict:
    return {
        "ivruniqueid": f"VC-{n}",
        "type": "Queue",
        "status": "ANSWER",
        "time": 1795132800,
        "caller": "0501234567",
        "IVR": [{"layer_id": 1, "Dtmf": 2}],
        **fields,
    }


def staged(data_dir) -> list[dict]:
    """Every staged record, sealed segments and the one still open alike (both are fsynced)."""
    records = []
    for path in sorted((data_dir / "landing" / "voicenter").glob("*.jsonl*")):
        data = path.read_bytes()  # an open segment: whole lines, then zeros
        records += [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return records


@pytest.fixture
def receiver(data_dir):
    with start_receiver(str(data_dir), TOKEN) as running:
        yield running


@pytest.mark.parametrize("fmt", ["json", "xmlrpc", "form"])
def test_each_format_is_staged_and_answered_in_kind(receiver, data_dir, fmt):
    response = post(receiver.url, TOKEN, cdr(fmt), fmt)
    assert response.status_code == 200 and acknowledged(fmt, response)
    expected_type = {"json": "application/json", "xmlrpc": "text/xml", "form": "application/x-www-form-urlencoded"}
    assert response.headers["content-type"].startswith(expected_type[fmt])
    if fmt == "xmlrpc":
        assert xmlrpc.client.loads(response.text)[0][0] == {"Err": 0, "Errdesc": "OK"}
    if fmt == "form":
        assert response.text == "Err=0&Errdesc=OK"
    (record,) = staged(data_dir)
    assert record["cdr"]["ivruniqueid"] == f"VC-{fmt}" and record["format"] == fmt


def test_bearer_token_works_and_a_wrong_or_missing_one_is_refused(receiver, data_dir):
    body, content_type = encode(cdr(1), "json")
    ok = requests.post(
        f"{receiver.url}/voicenter/cdr",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"},
    )
    assert ok.json() == {"Err": 0, "Errdesc": "OK"}
    for params, headers in (({"token": "wrong"}, {}), ({}, {}), ({}, {"Authorization": "Bearer nope"})):
        refused = requests.post(
            f"{receiver.url}/voicenter/cdr", params=params, data=body, headers={"Content-Type": content_type, **headers}
        )
        assert refused.status_code == 401
    assert len(staged(data_dir)) == 1
    receiver.stop()
    log = (data_dir / "logs" / "receiver.log").read_text()
    assert "refused" in log and TOKEN not in log and "wrong" not in log


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{"&lol%s;" % (i - 1 if i > 1 else "") * 10}">'.encode() for i in range(1, 9))
    + b"]><methodCall><methodName>x</methodName><params><param><value><string>&lol8;</string></value></param>"
    b"</params></methodCall>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><methodCall><methodName>x'
    b"</methodName><params><param><value><string>&e;</string></value></param></params></methodCall>"
)


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b'{"ivruniqueid": "broken', "application/json"),
        (b'["not", "an", "object"]', "application/json"),
        (b'{"caller": "0501234567"}', "application/json"),  # no ivruniqueid
        (BOMB, "text/xml"),
        (EXTERNAL, "text/xml"),
        (
            b"<methodCall><methodName>x</methodName><params><param><value><int>7</int></value></param></params></methodCall>",
            "text/xml",
        ),
        (b"%%%&&&=", "application/x-www-form-urlencoded"),
    ],
)
def test_bad_bodies_get_err_1_are_kept_in_quarantine_and_the_receiver_stays_up(receiver, data_dir, body, content_type):
    response = requests.post(
        f"{receiver.url}/voicenter/cdr", params={"token": TOKEN}, data=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    fmt = "xmlrpc" if content_type == "text/xml" else ("form" if "form" in content_type else "json")
    assert not acknowledged(fmt, response) and "1" in response.text
    kept = [p.read_bytes() for p in (data_dir / "quarantine" / "voicenter").rglob("*.bin")]
    assert kept == [body]
    assert requests.get(f"{receiver.url}/healthz").status_code == 200
    assert staged(data_dir) == []


def test_an_oversized_body_gets_413(receiver, data_dir):
    body = json.dumps(cdr(1, padding="x" * MAX_BODY)).encode()
    response = requests.post(
        f"{receiver.url}/voicenter/cdr",
        params={"token": TOKEN},
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and staged(data_dir) == []
    assert post(receiver.url, TOKEN, cdr(2), "json").status_code == 200


def raw(data_dir) -> list[dict]:
    """Every staged line whole: fields, format and the body as it arrived."""
    lines = []
    for path in sorted((data_dir / "landing" / "voicenter").glob("*.jsonl*")):
        data = path.read_bytes()
        lines += [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return lines


def body_of(line: dict) -> bytes:
    return line["body"].encode() if "body" in line else base64.b64decode(line["body_base64"])


def test_voicenters_real_cdrs_with_nested_blocks_are_acknowledged_and_reach_the_lake(receiver, data_dir):
    """Issue 28: a CDR with aiData (a two-hour call's transcript) or the Call Log's CustomData and DTMFData got
    Err 1, which Voicenter takes as "received, do not re-send": the call was lost."""
    ai_data = voicenter_sample("cdr_notification_aiData_v_b2a4031.json")["aiData"]
    log_row = voicenter_sample("call_log_response_216ed4e.json")["CDR_LIST"][0]
    sent = {
        "ai": {
            **voicenter_sample("cdr_notification_outgoing_v_b2a4031.json"),
            "ivruniqueid": "VC-ai",
            "aiData": ai_data,
        },
        "log": {**cdr("log"), "CustomData": {"AiExists": "true", "x": [1, {"y": 2}]}, "DTMFData": log_row["DTMFData"]},
        "two-hours": two_hour_ai_cdr("VC-two-hours"),
    }
    sent["two-hours-xmlrpc"] = {**sent["two-hours"], "ivruniqueid": "VC-two-hours-xmlrpc"}
    sent["two-hours-form"] = {**sent["two-hours"], "ivruniqueid": "VC-two-hours-form"}
    bodies = {}
    for name, record in sent.items():
        fmt = "xmlrpc" if name.endswith("xmlrpc") else ("form" if name.endswith("form") else "json")
        bodies[record["ivruniqueid"]] = encode(record, fmt)[0]
        response = post(receiver.url, TOKEN, record, fmt)
        assert response.status_code == 200 and acknowledged(fmt, response), (name, response.text[:200])
    for line in raw(data_dir):
        assert body_of(line) == bodies[line["cdr"]["ivruniqueid"]]  # stored as sent
    receiver.stop()
    assert load_staged() == {"segments": 1, "cdrs": len(sent), "quarantined": 0}
    rows = {row["ivruniqueid"]: row for row in lake_rows(data_dir, "voicenter")}
    assert json.loads(rows["VC-ai"]["_raw"])["aiData"] == ai_data
    assert json.loads(rows["VC-log"]["_raw"])["DTMFData"] == log_row["DTMFData"]
    assert json.loads(rows["VC-two-hours"]["_raw"])["aiData"] == sent["two-hours"]["aiData"]
    assert rows["VC-two-hours-xmlrpc"]["duration"] == 7200
    assert json.loads(json.loads(rows["VC-two-hours-form"]["_raw"])["aiData"]) == sent["two-hours"]["aiData"]


def test_impossible_values_are_acknowledged_stored_and_loaded(receiver, data_dir):
    """A known field with an impossible value is not a reason to lose the call: it is stored as sent, its typed
    column is null (or, for a fraction of a second, rounded half away from zero) and _raw keeps it."""
    odd = {
        "zero": cdr("zero", time=0, duration=-4, seconds_waiting_in_queue=-1),
        "huge": cdr("huge", price=int("9" * 30), dialtime=10**12, time=10**15),
        "text": cdr("text", duration="thirty", price="7 agorot", queueid={"id": 7}),
        "half": cdr("half", duration=12.5, dialtime=2.5, price=-0.5),
    }
    for n, record in enumerate(odd.values()):
        fmt = ("json", "xmlrpc", "form")[n % 3] if n != 1 else "json"  # XML-RPC's <int> holds 32 bits
        response = post(receiver.url, TOKEN, record, fmt)
        assert response.status_code == 200 and acknowledged(fmt, response)
    receiver.stop()
    assert load_staged()["quarantined"] == 0
    rows = {row["ivruniqueid"]: row for row in lake_rows(data_dir, "voicenter")}
    assert (rows["VC-zero"]["time"], rows["VC-zero"]["duration"]) == (0, -4)
    assert (rows["VC-huge"]["price"], rows["VC-huge"]["dialtime"]) == (None, 10**12)
    assert json.loads(rows["VC-huge"]["_raw"])["price"] == "9" * 30  # its digits; the body beside them
    assert (rows["VC-text"]["duration"], rows["VC-text"]["price"]) == (None, None)
    assert json.loads(rows["VC-text"]["_raw"])["duration"] == "thirty"
    assert (rows["VC-half"]["duration"], rows["VC-half"]["dialtime"], rows["VC-half"]["price"]) == (13, 3, -1)


@pytest.mark.parametrize(
    "body, content_type, field, value",
    [
        (
            codecs.BOM_UTF8 + b'{"ivruniqueid": "VC-bom", "caller": "0501234567"}',
            "application/json",
            "caller",
            "0501234567",
        ),
        (
            b'<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>cdr</methodName><params><param>'
            b"<value><struct><member><name>ivruniqueid</name><value><string>VC-latin</string></value></member>"
            b"<member><name>representative_name</name><value><string>Ren\xe9e</string></value></member>"
            b"</struct></value></param></params></methodCall>",
            "text/xml",
            "representative_name",
            "Renée",
        ),
        (b"ivruniqueid=VC-bytes&representative_name=\xd7\xa9\xff", "application/x-www-form-urlencoded", "", None),
    ],
)
def test_every_byte_of_an_acknowledged_body_is_kept(receiver, data_dir, body, content_type, field, value):
    """Issue 29: JSON with a byte-order mark and ISO-8859-1 XML-RPC got Err 1, and form bytes that are not UTF-8
    were stored replaced (U+FFFD), the original kept nowhere."""
    response = requests.post(
        f"{receiver.url}/voicenter/cdr", params={"token": TOKEN}, data=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 200
    (line,) = raw(data_dir)
    assert body_of(line) == body
    if field:
        assert line["cdr"][field] == value
    receiver.stop()
    load_staged()
    (row,) = lake_rows(data_dir, "voicenter")
    kept = json.loads(row["_raw"])
    sent = (
        kept["_received_body"].encode() if "_received_body" in kept else base64.b64decode(kept["_received_body_base64"])
    )
    assert sent == body  # the lake keeps it too, beside the fields


def test_no_answer_redirects_or_tells_where_the_data_lives(receiver, data_dir):
    """Issue 29: `POST /voicenter/cdr/?token=...` got a 307 whose Location repeated the token (as plain http://);
    /healthz told anyone the absolute data path."""
    body, content_type = encode(cdr("slash"), "json")
    response = requests.post(
        f"{receiver.url}/voicenter/cdr/",
        params={"token": TOKEN},
        data=body,
        headers={"Content-Type": content_type},
        allow_redirects=False,
    )
    assert response.status_code == 200 and response.json() == {"Err": 0, "Errdesc": "OK"}
    assert [line["cdr"]["ivruniqueid"] for line in raw(data_dir)] == ["VC-slash"]
    for method, path in (("GET", "/voicenter/cdr/"), ("GET", "/healthz/"), ("POST", "/voicenter/"), ("GET", "/x/")):
        answer = requests.request(method, f"{receiver.url}{path}", params={"token": TOKEN}, allow_redirects=False)
        assert answer.status_code in (404, 405) and "location" not in answer.headers
        assert TOKEN not in answer.text
    health = requests.get(f"{receiver.url}/healthz")
    assert health.status_code == 200 and health.json() == {"ok": True}
    assert str(data_dir) not in health.text and "landing" not in health.text


@contextmanager
def read_only(folder):
    """A landing folder nobody can write, root included (the immutable attribute), or skip."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root without chattr: cannot make a folder read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def test_a_read_only_landing_gives_err_2_and_503_so_voicenter_resends(data_dir):
    landing = data_dir / "landing" / "voicenter"
    with start_receiver(str(data_dir), TOKEN) as receiver:
        with read_only(landing):
            for fmt in ("json", "xmlrpc", "form"):
                response = post(receiver.url, TOKEN, cdr(f"ro-{fmt}"), fmt)
                assert response.status_code == 503 and "2" in response.text and not acknowledged(fmt, response)
            assert requests.get(f"{receiver.url}/healthz").status_code == 503
        # The disk is writable again: the same CDR, re-sent as Voicenter does (the receiver retries its own
        # failed step with backoff meanwhile), is stored.
        deadline = time.monotonic() + 30
        while post(receiver.url, TOKEN, cdr("ro-json"), "json").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert requests.get(f"{receiver.url}/healthz").status_code == 200
    assert [r["cdr"]["ivruniqueid"] for r in staged(data_dir)] == ["VC-ro-json"]


def test_kill_9_mid_burst_loses_no_acknowledged_cdr(data_dir):
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with requests.Session() as session:
            for n in range(10_000):
                if stop.is_set():
                    return
                ident = f"{worker}-{n}"
                try:
                    response = post(receiver.url, TOKEN, cdr(ident), ("json", "xmlrpc", "form")[n % 3], session)
                except requests.RequestException:
                    return  # the receiver died under us: this one was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acked.append(f"VC-{ident}")

    receiver = start_receiver(str(data_dir), TOKEN)
    threads = [threading.Thread(target=sender, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    while len(acked) < 1500:
        threading.Event().wait(0.05)
    receiver.process.send_signal(signal.SIGKILL)
    receiver.process.wait()
    stop.set()
    for thread in threads:
        thread.join()
    # Restart: the open segment is sealed (an unacknowledged half line cut off), then load everything.
    start_receiver(str(data_dir), TOKEN).stop()
    summary = load_staged()
    lake_ids = {row["ivruniqueid"] for row in lake_rows(data_dir, "voicenter", ["ivruniqueid"])}
    assert set(acked) <= lake_ids and len(acked) >= 1500
    assert summary["quarantined"] == 0
    assert list((data_dir / "landing" / "voicenter").glob("*.jsonl*")) == []  # all loaded and set aside


def test_the_loader_takes_sealed_segments_only_and_a_rerun_changes_nothing(receiver, data_dir):
    for n in range(5):
        assert post(receiver.url, TOKEN, cdr(n), "json").status_code == 200
    assert load_staged()["cdrs"] == 0  # the segment is still open (being written)
    receiver.stop()  # sealing it
    assert load_staged() == {"segments": 1, "cdrs": 5, "quarantined": 0}
    assert load_staged() == {"segments": 0, "cdrs": 0, "quarantined": 0}
    assert sorted(row["ivruniqueid"] for row in lake_rows(data_dir, "voicenter")) == [f"VC-{n}" for n in range(5)]
