"""The KAZOO client against a scripted HTTP server on loopback (pytest-httpserver)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from werkzeug import Response

from cdr.sources.http import RetryPolicy, SourceApiError, parse_retry_after
from cdr.sources.kazoo.client import KazooClient

START, END = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, backoff=0.01, max_wait=2.0, timeout=(2, 2))
CDRS = "/v2/accounts/acc/cdrs"


def auth_handler(tokens: list[str]):
    def handler(request):
        assert json.loads(request.data) == {"data": {"api_key": "secret-key"}}
        tokens.append(f"tok{len(tokens) + 1}")
        return Response(
            json.dumps({"auth_token": tokens[-1], "status": "success", "data": {}}),
            201,
            content_type="application/json",
        )

    return handler


def page(rows, next_key=None):
    body = {"data": rows, "status": "success", "page_size": len(rows)}
    if next_key is not None:
        body["next_start_key"] = next_key
    return Response(json.dumps(body), 200, content_type="application/json")


@pytest.fixture
def tokens(httpserver) -> list[str]:
    """The tokens the auth endpoint handed out, in order."""
    issued: list[str] = []
    httpserver.expect_request("/v2/api_auth", method="PUT").respond_with_handler(auth_handler(issued))
    return issued


@pytest.fixture
def client(httpserver):
    return KazooClient(httpserver.url_for(""), "secret-key", "acc", page_size=2, policy=FAST)


def test_pages_follow_next_start_key_with_the_token_and_window(httpserver, client, tokens):
    seen = []

    def cdrs(request):
        seen.append((request.headers.get("X-Auth-Token"), dict(request.args)))
        key = request.args.get("start_key")
        return {
            None: page([{"id": "a"}, {"id": "b"}], "k2"),
            "k2": page([{"id": "c"}, {"id": "d"}], 3),
            "3": page([{"id": "e"}]),
        }[key]

    httpserver.expect_request(CDRS).respond_with_handler(cdrs)
    pages = list(client.cdr_pages(START, END))
    assert [[r["id"] for r in p.rows] for p in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert [p.start_key for p in pages] == [None, "k2", "3"]  # a numeric key is sent back as text
    assert all(token == "tok1" for token, _ in seen)
    assert seen[0][1] == {"created_from": "63962352000", "created_to": "63962438399", "page_size": "2"}
    assert client.auth_count == 1


def test_expired_token_mid_paging_re_authenticates_and_resumes(httpserver, client, tokens):
    calls = []

    def cdrs(request):
        token, key = request.headers.get("X-Auth-Token"), request.args.get("start_key")
        calls.append((token, key))
        if key == "k2" and token == "tok1":  # the first token dies after page 1
            return Response('{"status":"error","message":"invalid credentials"}', 401)
        return page([{"id": "a"}], "k2") if key is None else page([{"id": "b"}])

    httpserver.expect_request(CDRS).respond_with_handler(cdrs)
    rows = [r["id"] for p in client.cdr_pages(START, END) for r in p.rows]
    assert rows == ["a", "b"]
    assert calls == [("tok1", None), ("tok1", "k2"), ("tok2", "k2")]


def test_a_token_refused_twice_is_a_clear_error(httpserver, client, tokens):
    httpserver.expect_request(CDRS).respond_with_data('{"message":"invalid credentials"}', status=401)
    with pytest.raises(SourceApiError) as info:
        list(client.cdr_pages(START, END))
    assert info.value.status == 401 and "KAZOO" in str(info.value) and "invalid credentials" in str(info.value)
    assert "secret-key" not in str(info.value) and "tok" not in str(info.value)


def test_wrong_api_key_names_the_request_and_the_answer(httpserver, client):
    httpserver.expect_request("/v2/api_auth", method="PUT").respond_with_data(
        '{"status":"error","message":"invalid credentials"}', status=401
    )
    with pytest.raises(SourceApiError, match=r"KAZOO: PUT .*/v2/api_auth failed: HTTP 401: .*invalid credentials"):
        list(client.cdr_pages(START, END))


def test_429_honours_retry_after_then_succeeds(httpserver, client, tokens):
    answers = [Response("slow down", 429, headers={"Retry-After": "1"}), page([{"id": "a"}])]
    times = []

    def cdrs(request):
        times.append(time.monotonic())
        return answers.pop(0)

    httpserver.expect_request(CDRS).respond_with_handler(cdrs)
    rows = [r["id"] for p in client.cdr_pages(START, END) for r in p.rows]
    assert rows == ["a"]
    assert times[1] - times[0] >= 0.95  # waited as told, not the policy's 0.01 s backoff


def test_5xx_until_attempts_run_out_is_a_clear_error(httpserver, client, tokens):
    httpserver.expect_request(CDRS).respond_with_data("database on fire", status=503)
    with pytest.raises(SourceApiError) as info:
        list(client.cdr_pages(START, END))
    message = str(info.value)
    assert "gave up after 4 attempts" in message and "HTTP 503" in message and "database on fire" in message
    assert f"GET {httpserver.url_for(CDRS)}?created_from=63962352000" in message
    assert len([r for r, _ in httpserver.log if r.path == CDRS]) == 4


def test_unchanged_next_start_key_is_an_error_not_a_loop(httpserver, client, tokens):
    httpserver.expect_request(CDRS).respond_with_handler(lambda request: page([{"id": "x"}], "same"))
    with pytest.raises(SourceApiError, match="next_start_key 'same' came back unchanged"):
        list(client.cdr_pages(START, END))
    assert len([r for r, _ in httpserver.log if r.path == CDRS]) == 2


def test_timeouts_are_retried(httpserver, tokens):
    answers = ["slow", "fast"]

    def cdrs(request):
        if answers.pop(0) == "slow":
            time.sleep(0.6)
        return page([{"id": "a"}])

    httpserver.expect_request(CDRS).respond_with_handler(cdrs)
    client = KazooClient(
        httpserver.url_for(""), "secret-key", "acc", policy=RetryPolicy(attempts=3, backoff=0.01, timeout=(1, 0.3))
    )
    assert [r["id"] for p in client.cdr_pages(START, END) for r in p.rows] == ["a"]


def test_retry_after_parses_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


def test_repr_hides_the_key():
    assert "secret" not in repr(KazooClient("http://x", "secret-key", "acc"))


def test_a_token_near_its_lifetime_is_renewed_before_the_server_refuses_it(httpserver, tokens):
    calls = []

    def cdrs(request):
        calls.append(request.headers.get("X-Auth-Token"))
        if len(calls) == 1:
            time.sleep(0.6)  # a slow first page: the token's lifetime (0.5 s) runs out meanwhile
            return page([{"id": "a"}], "k2")
        return page([{"id": "b"}])

    httpserver.expect_request(CDRS).respond_with_handler(cdrs)
    client = KazooClient(httpserver.url_for(""), "secret-key", "acc", policy=FAST, token_lifetime=0.5)
    assert [r["id"] for p in client.cdr_pages(START, END) for r in p.rows] == ["a", "b"]
    assert calls == ["tok1", "tok2"]  # no request was spent on a 401


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTP_PROXY": "http://proxy.example:3128", "HTTPS_PROXY": "http://proxy.example:3129"},
        {"HTTPS_PROXY": "http://proxy.example:3129", "NO_PROXY": "kazoo.example,.internal"},
        {"ALL_PROXY": "socks5://proxy.example:1080", "REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem"},
    ],
)
def test_the_source_session_reads_the_environment_as_requests_does(monkeypatch, environment):
    from cdr.sources.http import SourceSession

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        for spelling in (name, name.lower()):
            monkeypatch.delenv(spelling, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours, theirs = SourceSession(), __import__("requests").Session()
    for url in (
        "https://kazoo.example/v2/x",
        "http://pbx.example/api/cdr",
        "https://a.internal/x",
        "https://x.example",
    ):
        for _ in range(2):  # the second time from what the session kept
            assert ours.merge_environment_settings(url, {}, None, None, None) == theirs.merge_environment_settings(
                url, {}, None, None, None
            )
