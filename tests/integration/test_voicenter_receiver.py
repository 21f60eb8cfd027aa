"""cdr-receiver as Voicenter meets it: a real process on loopback, its staging on disk, then the loader."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import xmlrpc.client
from contextlib import contextmanager

import pytest
import requests
from post_voicenter import acknowledged, encode, post

from cdr.voicenter.load import load_staged
from launch import start_receiver
from tests.helpers import lake_rows

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
    body = json.dumps(cdr(1, padding="x" * 300_000)).encode()
    response = requests.post(
        f"{receiver.url}/voicenter/cdr",
        params={"token": TOKEN},
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413 and staged(data_dir) == []
    assert post(receiver.url, TOKEN, cdr(2), "json").status_code == 200


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
        # The disk is writable again: the same CDR, re-sent, is stored.
        assert post(receiver.url, TOKEN, cdr("ro-json"), "json").status_code == 200
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
