"""cdr-receiver against hostile or broken senders (issue 12): a real process on loopback, probed over HTTP and raw
sockets. Bounds at the door, no 500 for any body, the token before the body, deadlines, caps and quiet logs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from post_voicenter import acknowledged, encode, post

from cdr.sources.voicenter.bounds import MAX_BODY
from launch import free_port, start_receiver

TOKEN = "limits-token-0123456789abcdefghijklmnop"
MARKER = "0549998877"  # a phone number in every hostile body: it must never reach a note or a log


def cdr(n, **fields) -> dict:
    return {
        "ivruniqueid": f"VC-{n}",
        "type": "Queue",
        "status": "ANSWER",
        "time": 1795132800,
        "caller": MARKER,
        "duration": 42,
        "IVR": [{"layer_id": 1, "Dtmf": 2}],
        **fields,
    }


def staged(data_dir) -> list[dict]:
    records = []
    for path in sorted((data_dir / "landing" / "voicenter").glob("*.jsonl*")):
        data = path.read_bytes()  # an open segment: whole lines, then zeros
        records += [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]  # whole lines
    return records


def quarantined(data_dir) -> list[bytes]:
    return sorted(p.read_bytes() for p in (data_dir / "quarantine" / "voicenter").rglob("*.bin"))


def raw_post(url: str, body: bytes, content_type: str, token: str = TOKEN) -> requests.Response:
    return requests.post(
        f"{url}/voicenter/cdr", params={"token": token}, data=body, headers={"Content-Type": content_type}, timeout=10
    )


def xmlrpc_nested(depth: int) -> bytes:
    # Arrays: the most levels that fit in the 256 KiB a body may have.
    inner = "<value><array><data>" * depth + "</data></array></value>" * depth
    return (
        f"<?xml version='1.0'?><methodCall><methodName>cdr</methodName><params><param><value><struct>"
        f"<member><name>ivruniqueid</name><value><string>deep</string></value></member>"
        f"<member><name>caller</name><value><string>{MARKER}</string></value></member>"
        f"<member><name>IVR</name>{inner}</member></struct></value></param></params></methodCall>"
    ).encode()


def xmlrpc_cdr(members: str) -> bytes:
    return (
        f"<methodCall><methodName>cdr</methodName><params><param><value><struct>"
        f"<member><name>ivruniqueid</name><value><string>x1</string></value></member>"
        f"<member><name>caller</name><value><string>{MARKER}</string></value></member>{members}"
        f"</struct></value></param></params></methodCall>"
    ).encode()


def json_nested(depth: int) -> bytes:
    return (
        b'{"ivruniqueid": "VC-13", "caller": "' + MARKER.encode() + b'", "IVR": ' + b"[" * depth + b"]" * depth + b"}"
    )


# Bodies that are not a CDR (cdr.sources.voicenter.bounds): unparseable, no usable id, past the depth or field limits.
NOT_CDRS = [
    ("no id", json.dumps({"caller": MARKER, "duration": 4}).encode(), "application/json"),
    ("id of 300 characters", json.dumps(cdr(9, ivruniqueid="A" * 300)).encode(), "application/json"),
    ("id with a line break", json.dumps(cdr(9, ivruniqueid="A\nB")).encode(), "application/json"),
    ("id a list", json.dumps(cdr(9, ivruniqueid=["A"])).encode(), "application/json"),
    ("truncated JSON", json.dumps(cdr(1))[:-20].encode(), "application/json"),
    ("JSON nested 33 deep", json_nested(32), "application/json"),
    ("JSON nested 5,000 deep", json_nested(5000), "application/json"),
    ("XML-RPC nested 5,000 deep", xmlrpc_nested(5000), "text/xml"),
    (
        "XML-RPC fault",
        (
            f"<methodResponse><fault><value><struct><member><name>faultString</name><value><string>"
            f"{MARKER}</string></value></member><member><name>faultCode</name><value><int>4</int>"
            f"</value></member></struct></value></fault></methodResponse>"
        ).encode(),
        "text/xml",
    ),
    ("XML-RPC not well-formed", xmlrpc_cdr("<member><name>x</name>")[:-30], "text/xml"),
    ("form without an id", f"caller={MARKER}&duration=4".encode(), "application/x-www-form-urlencoded"),
    (
        "form of 20,000 fields",
        ("&".join(f"f{i}={MARKER}" for i in range(20_000)) + "&ivruniqueid=VC-15").encode(),
        "application/x-www-form-urlencoded",
    ),
]
# CDRs with values no typed column can hold, or bytes no strict parser takes: CDRs all the same (issue 28),
# acknowledged and stored as sent. Before, each got Err 1: a call lost for good.
ODD_CDRS = [
    ("duration 14 digits, JSON", json.dumps(cdr(1, duration=99999999999999)).encode(), "application/json"),
    (
        "duration 14 digits, form",
        f"ivruniqueid=VC-2&caller={MARKER}&duration=99999999999999".encode(),
        "application/x-www-form-urlencoded",
    ),
    ("duration 20 digits", json.dumps(cdr(3, duration=10**19 + 7)).encode(), "application/json"),
    ("time 1e20", json.dumps(cdr(4, time=1e20)).encode(), "application/json"),
    ("time 0", json.dumps(cdr(4, time=0)).encode(), "application/json"),
    ("time in 2099", json.dumps(cdr(5, time=4_070_908_800)).encode(), "application/json"),
    ("negative wait", json.dumps(cdr(6, seconds_waiting_in_queue=-3)).encode(), "application/json"),
    ("price of 30 digits", json.dumps(cdr(7, price=int("9" * 30))).encode(), "application/json"),
    ("duration 12.5", json.dumps(cdr(7, duration=12.5)).encode(), "application/json"),
    ("id a number", json.dumps(cdr(8, ivruniqueid=12345)).encode(), "application/json"),
    ("caller an object", json.dumps(cdr(8, caller={"number": MARKER})).encode(), "application/json"),
    (
        "lone surrogate",
        b'{"ivruniqueid": "VC-10", "caller": "' + MARKER.encode() + b'", "x": "\\ud800"}',
        "application/json",
    ),
    ("NaN", b'{"ivruniqueid": "VC-11", "caller": "' + MARKER.encode() + b'", "duration": NaN}', "application/json"),
    (
        "Infinity",
        b'{"ivruniqueid": "VC-12", "caller": "' + MARKER.encode() + b'", "price": -Infinity}',
        "application/json",
    ),
    ("byte-order mark", b"\xef\xbb\xbf" + json.dumps(cdr(12)).encode(), "application/json"),
    ("not UTF-8", b'{"ivruniqueid": "VC-16", "caller": "\xff' + MARKER.encode() + b'"}', "application/json"),
    (
        "XML-RPC NaN",
        xmlrpc_cdr("<member><name>duration</name><value><double>nan</double></value></member>"),
        "text/xml",
    ),
    (
        "XML-RPC huge int",
        xmlrpc_cdr(f"<member><name>price</name><value><int>{'9' * 30}</int></value></member>"),
        "text/xml",
    ),
    (
        "XML-RPC base64",
        xmlrpc_cdr("<member><name>record</name><value><base64>AAAA</base64></value></member>"),
        "text/xml",
    ),
    ("form with a bare field", f"ivruniqueid=VC-14&{MARKER}".encode(), "application/x-www-form-urlencoded"),
    (
        "form of 500 fields",
        ("&".join(f"f{i}={MARKER}" for i in range(500)) + "&ivruniqueid=VC-15").encode(),
        "application/x-www-form-urlencoded",
    ),
    ("form not UTF-8", b"ivruniqueid=VC-17&caller=\xd7\xa9\xff", "application/x-www-form-urlencoded"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    data = tmp_path_factory.mktemp("limits") / "data"
    with start_receiver(str(data), TOKEN) as running:
        yield running, data


def fmt_of(content_type: str) -> str:
    return {"application/json": "json", "text/xml": "xmlrpc"}.get(content_type, "form")


@pytest.mark.parametrize("body, content_type", [h[1:] for h in NOT_CDRS], ids=[h[0] for h in NOT_CDRS])
def test_what_is_not_a_cdr_gets_err_1_and_is_quarantined_byte_for_byte(shared, body, content_type):
    receiver, data = shared
    before = len(staged(data))
    response = raw_post(receiver.url, body, content_type)
    assert response.status_code == 400, response.text
    assert not acknowledged(fmt_of(content_type), response) and "1" in response.text
    assert body in quarantined(data)
    folder = next((data / "quarantine" / "voicenter").iterdir())
    digest = hashlib.sha256(body).hexdigest()
    note = (folder / f"{digest}.json").read_text()
    assert MARKER not in note and json.loads(note)["bytes"] == len(body)
    for kept in (folder / f"{digest}.bin", folder / f"{digest}.json"):
        assert stat.S_IMODE(kept.stat().st_mode) & 0o007 == 0, "quarantine files are 0640"
    assert len(staged(data)) == before
    assert requests.get(f"{receiver.url}/healthz").status_code == 200


@pytest.mark.parametrize("body, content_type", [h[1:] for h in ODD_CDRS], ids=[h[0] for h in ODD_CDRS])
def test_a_cdr_with_odd_values_or_bytes_is_acknowledged_and_stored_as_sent(shared, body, content_type):
    receiver, data = shared
    before = quarantined(data)
    response = raw_post(receiver.url, body, content_type)
    assert response.status_code == 200 and acknowledged(fmt_of(content_type), response), response.text
    line = staged(data)[-1]
    assert (line["body"].encode() if "body" in line else base64.b64decode(line["body_base64"])) == body
    assert quarantined(data) == before


def test_the_id_edge_is_still_a_cdr(shared):
    receiver, data = shared
    for fmt in ("json", "xmlrpc", "form"):
        response = post(
            receiver.url, TOKEN, {**cdr("edge"), "ivruniqueid": f"{fmt}-" + "E" * (128 - len(fmt) - 1)}, fmt
        )
        assert response.status_code == 200 and acknowledged(fmt, response)
    assert {str(r["cdr"]["ivruniqueid"])[:5] for r in staged(data)} >= {"json-", "xmlrp", "form-"}


def test_nothing_hostile_reached_the_log(shared):
    _, data = shared
    log = (data / "logs" / "receiver.log").read_text()
    assert "quarantined" in log and MARKER not in log and TOKEN not in log
    assert "Traceback" not in log


def test_every_resend_is_stored_as_received(shared):
    """The lake keeps every copy Voicenter sends; the warehouse counts the CDR once."""
    receiver, data = shared
    for duration in (10, 10, 11):
        assert post(receiver.url, TOKEN, cdr("resent", duration=duration), "json").status_code == 200
    copies = [r["cdr"]["duration"] for r in staged(data) if r["cdr"]["ivruniqueid"] == "VC-resent"]
    assert copies == [10, 10, 11]


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_the_token_is_checked_before_the_body_is_read(shared):
    receiver, _ = shared
    with connect(receiver.url) as sock:
        # Headers only, announcing a body that is never sent: a wrong token is answered without waiting for it.
        sock.sendall(
            b"POST /voicenter/cdr?token=wrong HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200000\r\n\r\n"
        )
        started = time.monotonic()
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 401") and time.monotonic() - started < 4.5  # before the deadline
    with connect(receiver.url) as sock:
        sock.sendall(
            f"POST /voicenter/cdr?token={TOKEN} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json"
            f"\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


@pytest.fixture
def quick(data_dir):
    env = {
        "CDR_RECEIVER_REQUEST_TIMEOUT": "1",
        "CDR_RECEIVER_MAX_CONNECTIONS": "6",
        "CDR_RECEIVER_QUARANTINE_MAX_PER_DAY": "2",
        "CDR_RECEIVER_LOG_INTERVAL": "60",
    }
    with start_receiver(str(data_dir), TOKEN, env=env) as running:
        yield running


def test_an_incomplete_request_is_timed_out_and_the_receiver_serves_others(quick, data_dir):
    partial = [
        b"",  # connected, said nothing
        b"POST /voicenter/cdr HTTP/1.1\r\nHost: r\r\nContent-Ty",  # half the headers
        (
            f"POST /voicenter/cdr?token={TOKEN} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\n"
            f'Content-Length: 100\r\n\r\n{{"ivruniqueid": "slow"'
        ).encode(),  # half the body
    ]
    socks = [connect(quick.url) for _ in partial]
    for sock, data in zip(socks, partial):
        if data:
            sock.sendall(data)
    started = time.monotonic()
    for sock in socks:
        answer = read_all(sock)  # the receiver closes it
        assert answer in (b"", b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        sock.close()
    assert time.monotonic() - started < 5
    assert post(quick.url, TOKEN, cdr("after"), "json").status_code == 200
    assert [r["cdr"]["ivruniqueid"] for r in staged(data_dir)] == ["VC-after"]


def request(body: bytes, content_type: str, token: str | None) -> bytes:
    query = f"?token={token}" if token else ""
    return (
        f"POST /voicenter/cdr{query} HTTP/1.1\r\nHost: r\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def test_past_the_connection_cap_strangers_get_503_and_the_token_holder_is_served(quick, data_dir):
    idle = [connect(quick.url) for _ in range(6)]
    try:
        time.sleep(0.2)
        body, content_type = encode(cdr("capped"), "json")
        for token in (None, "wrong-token", None):
            with connect(quick.url) as sock:
                sock.sendall(request(body, content_type, token))
                assert sock.recv(65536).startswith(b"HTTP/1.1 503")
        # The cap is for strangers: Voicenter, behind a proxy on the same address as them, is still served.
        with connect(quick.url) as sock:
            sock.sendall(request(body, content_type, TOKEN))
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert post(quick.url, TOKEN, cdr("uncapped"), "json").status_code == 200
    quick.stop()
    log = (data_dir / "logs" / "receiver.log").read_text()
    # uvicorn's line per refused request, counted instead: the first at once, the other two at the end.
    assert "Exceeded concurrency limit." in log
    counts = [int(n) for n in re.findall(r"(\d+) request\(s\): Exceeded concurrency limit", log)]
    assert counts == [1, 2] and log.count("Exceeded concurrency limit") == 2


def rss_peak(pid: int) -> int:
    """The process's peak resident memory in bytes (Linux: VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


HEAD_BOUND = 48 * 1024 * 1024  # what 32 connections at the head limit may add to the receiver's peak memory


def test_huge_headers_are_refused_at_the_head_limit_and_memory_stays_bounded(shared):
    """Issue 29: a 67 MiB header from one connection without the token raised the receiver to 178 MB, 32 of them
    to 507 MB. The head (request line and headers) now stops at MAX_HEAD_BYTES: 431 and the connection closed."""
    receiver, _ = shared
    before = rss_peak(receiver.process.pid)
    chunk = b"x" * (256 * 1024)
    answers = []

    def huge_header() -> None:
        with connect(receiver.url) as sock:
            sock.settimeout(30)
            try:
                sock.sendall(b"POST /voicenter/cdr HTTP/1.1\r\nHost: r\r\nX-Huge: ")
                for _ in range(32):  # 8 MiB unless the receiver stops reading
                    sock.sendall(chunk)
            except OSError:
                pass  # closed by the receiver: what is wanted
            try:
                answers.append(read_all(sock))
            except OSError:
                answers.append(b"")

    threads = [threading.Thread(target=huge_header) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grown = rss_peak(receiver.process.pid) - before
    assert grown < HEAD_BOUND, f"the receiver's peak memory grew by {grown / 2**20:.0f} MiB"
    # Closed with the rest of the header unread, a connection is reset, and its 431 may be lost with it.
    assert any(answer.startswith(b"HTTP/1.1 431") for answer in answers) and len(answers) == 32
    with connect(receiver.url) as sock:  # too many headers, each small
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: r\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200)))
        sock.sendall(b"\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 431")
    assert post(receiver.url, TOKEN, cdr("after-heads"), "json").status_code == 200


def test_a_wrong_token_is_answered_with_the_connection_closed(shared):
    receiver, _ = shared
    body, content_type = encode(cdr("x"), "json")
    with connect(receiver.url) as sock:
        sock.sendall(request(body, content_type, "wrong-" + TOKEN[6:]))
        answer = read_all(sock)  # returns only once the receiver closes: a kept-alive one would hang here
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 401") and b"connection: close" in head


def flood(url: str, source: str, connections: int, seconds: float, stats: dict) -> list[threading.Thread]:
    """Wrong-token requests on kept-alive connections from ``source`` (a loopback address of its own), each
    connection re-opened whenever the receiver closes or refuses it."""
    parts = urlsplit(url)
    body, content_type = encode(cdr("flood"), "json")
    message = request(body, content_type, "wrong-" + TOKEN[6:])
    until_time = time.monotonic() + seconds

    def one() -> None:
        while time.monotonic() < until_time:
            try:
                with socket.create_connection((parts.hostname, parts.port), timeout=5, source_address=(source, 0)) as s:
                    while time.monotonic() < until_time:
                        s.sendall(message)
                        answer = s.recv(65536)
                        if not answer:
                            break
                        stats[answer[9:12].decode()] = stats.get(answer[9:12].decode(), 0) + 1
                        if b"connection: close" in answer.lower():
                            break
            except OSError:
                stats["reset"] = stats.get("reset", 0) + 1
                time.sleep(0.05)

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    return threads


def test_a_flood_of_wrong_tokens_from_one_address_leaves_honest_senders_served(data_dir):
    """Issue 29: 300 wrong-token kept-alive connections took every one of CDR_RECEIVER_MAX_CONNECTIONS and
    honest senders got 503. Now a wrong token closes its connection, and one address holds at most
    CDR_RECEIVER_MAX_CONNECTIONS_PER_CLIENT connections that have not shown the token."""
    env = {"CDR_RECEIVER_MAX_CONNECTIONS": "40", "CDR_RECEIVER_MAX_CONNECTIONS_PER_CLIENT": "10"}
    with start_receiver(str(data_dir), TOKEN, env=env) as receiver:
        stats: dict = {}
        threads = flood(receiver.url, "127.0.0.2", 60, 6, stats)
        time.sleep(1.5)
        answers = []
        with requests.Session() as session:
            for n in range(40):
                answers.append(
                    post(receiver.url, TOKEN, cdr(f"honest-{n}"), ("json", "xmlrpc", "form")[n % 3], session)
                )
        for thread in threads:
            thread.join()
    assert [a.status_code for a in answers] == [200] * 40
    assert stats.get("401", 0) >= 10 and stats.get("503", 0) >= 10, stats  # strangers: 401, or 503 past the cap
    log = (data_dir / "logs" / "receiver.log").read_text()
    assert "without the token" in log and TOKEN not in log


def test_a_large_body_from_the_token_holder_gets_the_time_it_needs(data_dir):
    """A two-hour call's CDR may take seconds to arrive: the deadline grows with the body the token holder
    announces (CDR_RECEIVER_REQUEST_TIMEOUT is 1 s here; the body takes about 3)."""
    with start_receiver(str(data_dir), TOKEN, env={"CDR_RECEIVER_REQUEST_TIMEOUT": "1"}) as receiver:
        body, content_type = encode(cdr("big", pad="y" * (1024 * 1024)), "json")
        with connect(receiver.url) as sock:
            message = request(body, content_type, TOKEN)
            step = len(message) // 10
            for start in range(0, len(message), step):
                sock.sendall(message[start : start + step])
                time.sleep(0.3)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        with connect(receiver.url) as sock:  # until the token shows, the deadline is the deadline
            sock.sendall(message[:40])
            started = time.monotonic()
            assert read_all(sock).startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5


def test_the_days_quarantine_cap_answers_err_2_so_nothing_is_lost(quick, data_dir):
    bodies = [f'{{"caller": "q{n}", "duration": -1}}'.encode() for n in range(3)]  # no id: not CDRs
    answers = [raw_post(quick.url, body, "application/json") for body in bodies]
    assert [a.status_code for a in answers] == [400, 400, 503]
    assert answers[2].json() == {"Err": 2, "Errdesc": "cannot store"}  # Voicenter sends it again later
    assert quarantined(data_dir) == sorted(bodies[:2])
    assert post(quick.url, TOKEN, cdr("good"), "json").status_code == 200  # good CDRs still stored


def test_refused_tokens_are_logged_as_one_counted_line(quick, data_dir):
    body, content_type = encode(cdr("x"), "json")
    threads = [threading.Thread(target=raw_post, args=(quick.url, body, content_type, f"wrong-{n}")) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    quick.stop()  # flushes the count
    log = (data_dir / "logs" / "receiver.log").read_text()
    lines = [line for line in log.splitlines() if re.search(r"refused \d+ POST", line)]
    counts = [int(re.search(r"refused (\d+) POST", line).group(1)) for line in lines]
    assert sum(counts) == 5 and len(lines) == 2, lines  # the first at once, the other four at the interval's end
    assert "wrong-" not in log


@pytest.mark.parametrize("token, starts", [("x" * 31, False), ("", False), ("y" * 32, True)])
def test_a_short_token_is_refused_at_start(tmp_path, token, starts):
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(tmp_path),
        "CDR_VOICENTER_TOKEN": token,
        "CDR_RECEIVER_PORT": str(free_port()),
    }
    binary = os.path.join(os.path.dirname(sys.executable), "cdr-receiver")
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(env["CDR_RECEIVER_PORT"])
    try:
        # Started: it listens. Refused: it exits. Either may take seconds on a loaded machine.
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        if proc.poll() is None:
            assert starts, "a receiver with a short token kept running"
            return
    finally:
        if proc.poll() is None:
            proc.kill()
        _, stderr = proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
    assert not starts and done.returncode != 0
    assert "CDR_VOICENTER_TOKEN" in done.stderr and (token == "" or token not in done.stderr)
