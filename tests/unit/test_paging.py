"""The paging parts on their own: window splitting, cursor and page-number paginators, the loop, token auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from werkzeug import Response

from cdr.sources.http import RenewingTokenAuth, RetryPolicy, SourceApiError, send_json
from cdr.sources.paging import CursorPaginator, PageNumberPaginator, UnchangedCursor, paginate, split_windows

FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=0.1, timeout=(2, 2))


def walk(answers, paginator):
    """Run the loop over canned answers; returns the params each page was asked with, and the pages seen."""
    asked, seen = [], []

    def fetch(params):
        asked.append(dict(params))
        return answers[len(asked) - 1]

    for number, body in paginate(fetch, paginator):
        seen.append((number, body["id"]))
    return asked, seen


@pytest.mark.parametrize(
    "hours, width, expected",
    [
        (24, 10, [(0, 10), (10, 20), (20, 24)]),
        (20, 10, [(0, 10), (10, 20)]),
        (3, 10, [(0, 3)]),
        (0, 10, []),
    ],
)
def test_windows_cover_the_interval_edge_to_edge(hours, width, expected):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    windows = split_windows(start, start + timedelta(hours=hours), timedelta(hours=width))
    assert windows == [(start + timedelta(hours=a), start + timedelta(hours=b)) for a, b in expected]


def test_windows_refuse_a_backwards_interval_or_an_empty_width():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before it starts"):
        split_windows(start, start - timedelta(seconds=1), timedelta(days=1))
    with pytest.raises(ValueError, match="wider than zero"):
        split_windows(start, start + timedelta(days=1), timedelta(0))


def test_cursor_paging_sends_each_next_key_back_and_stops_without_one():
    answers = [{"id": 1, "next_start_key": "k2"}, {"id": 2, "next_start_key": 3}, {"id": 3, "next_start_key": ""}]
    cursor = CursorPaginator()
    asked, seen = walk(answers, cursor)
    assert asked == [{}, {"start_key": "k2"}, {"start_key": "3"}]  # a number goes back as its JSON text
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_cursor_paging_with_no_key_at_all_reads_one_page():
    assert walk([{"id": 1}], CursorPaginator()) == ([{}], [(1, 1)])


def test_cursor_paging_sends_a_structured_key_as_json():
    answers = [{"id": 1, "next_start_key": ["a", 1]}, {"id": 2}]
    asked, _ = walk(answers, CursorPaginator())
    assert asked[1] == {"start_key": '["a", 1]'}


def test_an_unchanged_cursor_is_refused_after_its_page_is_handed_on():
    answers = [{"id": 1, "next_start_key": "same"}, {"id": 2, "next_start_key": "same"}, {"id": 3}]
    seen = []
    with pytest.raises(UnchangedCursor) as info:
        it = iter(answers)
        for _, body in paginate(lambda params: next(it), CursorPaginator()):
            seen.append(body["id"])
    assert seen == [1, 2]  # the second page came, then its cursor was refused
    assert (info.value.cursor, info.value.page) == ("same", 2)


def test_cursor_names_are_configurable():
    answers = [{"id": 1, "next": "b"}, {"id": 2}]
    asked, _ = walk(answers, CursorPaginator(cursor_param="after", cursor_path="next"))
    assert asked == [{}, {"after": "b"}]


def test_page_numbers_run_to_the_answers_page_count():
    answers = [{"id": n, "max_page": 3} for n in (1, 2, 3)]
    numbers = PageNumberPaginator(lambda body: body["max_page"])
    asked, seen = walk(answers, numbers)
    assert asked == [{"page": 1}, {"page": 2}, {"page": 3}] and [n for n, _ in seen] == [1, 2, 3]
    assert numbers.max_page == 3


@pytest.mark.parametrize("count", [0, None, 1])
def test_page_numbers_without_a_further_page_read_one(count):
    asked, _ = walk([{"id": 1, "max_page": count}], PageNumberPaginator(lambda body: body["max_page"]))
    assert asked == [{"page": 1}]


def test_a_page_count_that_shrinks_mid_walk_ends_it():
    answers = [{"id": 1, "max_page": 5}, {"id": 2, "max_page": 2}]
    asked, _ = walk(answers, PageNumberPaginator(lambda body: body["max_page"]))
    assert asked == [{"page": 1}, {"page": 2}]


def test_a_paginator_starts_afresh_for_each_window():
    cursor = CursorPaginator()
    walk([{"id": 1, "next_start_key": "x"}, {"id": 2}], cursor)
    assert walk([{"id": 3}], cursor)[0] == [{}]


class TokenServer:
    """Hands out tok1, tok2, ... and accepts only the latest; ``refuse`` makes it refuse every token."""

    def __init__(self, httpserver):
        self.issued: list[str] = []
        self.seen: list[str | None] = []
        self.refuse = False
        httpserver.expect_request("/auth", method="PUT").respond_with_handler(self.auth)
        httpserver.expect_request("/data").respond_with_handler(self.data)
        self.url = httpserver.url_for("")

    def auth(self, request):
        self.issued.append(f"tok{len(self.issued) + 1}")
        return Response(json.dumps({"token": self.issued[-1]}), 201, content_type="application/json")

    def data(self, request):
        token = request.headers.get("X-Token")
        self.seen.append(token)
        if self.refuse or token != self.issued[-1]:
            return Response('{"message": "invalid credentials"}', 401, content_type="application/json")
        return Response('{"ok": true}', 200, content_type="application/json")


@pytest.fixture
def tokens(httpserver):
    return TokenServer(httpserver)


def make_auth(session, server, lifetime=3600.0):
    def fetch():
        return send_json(session, "PUT", f"{server.url}/auth", source="T", policy=FAST)[1]["token"]

    return RenewingTokenAuth(fetch, header="X-Token", lifetime=lifetime, source="T")


def test_token_auth_fetches_once_and_reuses_the_token(tokens):
    session = requests.Session()
    auth = make_auth(session, tokens)
    for _ in range(3):
        assert send_json(session, "GET", f"{tokens.url}/data", source="T", policy=FAST, auth=auth)[1] == {"ok": True}
    assert tokens.issued == ["tok1"] and tokens.seen == ["tok1"] * 3


def test_token_auth_renews_and_retries_once_on_401(tokens):
    session = requests.Session()
    auth = make_auth(session, tokens)
    send_json(session, "GET", f"{tokens.url}/data", source="T", policy=FAST, auth=auth)
    tokens.issued.append("tok-elsewhere")  # the server moved on: tok1 is dead
    assert send_json(session, "GET", f"{tokens.url}/data", source="T", policy=FAST, auth=auth)[1] == {"ok": True}
    assert tokens.seen == ["tok1", "tok1", "tok3"]


def test_token_auth_gives_up_on_a_second_401(tokens):
    session = requests.Session()
    auth = make_auth(session, tokens)
    tokens.refuse = True
    with pytest.raises(SourceApiError) as info:
        send_json(session, "GET", f"{tokens.url}/data", source="T", policy=FAST, auth=auth)
    assert info.value.status == 401 and "invalid credentials" in str(info.value)
    assert tokens.seen == ["tok1", "tok2"]  # one retry, with a new token, not a loop


def test_token_auth_renews_near_the_end_of_its_lifetime(tokens):
    session = requests.Session()
    auth = make_auth(session, tokens, lifetime=0.0)  # always past its renewal margin
    for _ in range(2):
        send_json(session, "GET", f"{tokens.url}/data", source="T", policy=FAST, auth=auth)
    assert tokens.issued == ["tok1", "tok2"] and tokens.seen == ["tok1", "tok2"]
