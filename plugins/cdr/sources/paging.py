"""Paging as parts, the way dlt's paginators are: how a source cuts an interval into windows and walks a window's
pages are strategies that one page loop (``paginate``) composes; the clients only say how to fetch one page.

- ``split_windows``: an interval cut into windows no wider than the source accepts (KAZOO: 31 days).
- ``CursorPaginator``: the answer names the next page's cursor (KAZOO's ``next_start_key``, sent back as
  ``start_key``); no cursor, or an empty one, ends the window. A cursor that comes back unchanged is refused
  (``UnchangedCursor``), since following it would read the same page for ever.
- ``PageNumberPaginator``: pages numbered from 1 up to the answer's page count (the PBX's
  ``pagination.max_page``); a missing count ends after the page in hand.
Authentication is a ``requests.auth.AuthBase`` (cdr.sources.http.RenewingTokenAuth), outside the loop.

A page is handed on before the paginator moves to the next one, so a refused cursor fails after the page it
came with was delivered, as the loop did before it was split. Nothing here does I/O or imports anything heavy.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any


def split_windows(start: datetime, end: datetime, max_window: timedelta) -> list[tuple[datetime, datetime]]:
    """Cut the half-open interval [start, end) into consecutive windows no wider than ``max_window``."""
    if end < start:
        raise ValueError(f"interval ends before it starts: {start} .. {end}")
    if max_window <= timedelta(0):
        raise ValueError(f"a window must be wider than zero, not {max_window}")
    windows = []
    cursor = start
    while cursor < end:
        upper = min(cursor + max_window, end)
        windows.append((cursor, upper))
        cursor = upper
    return windows


class UnchangedCursor(ValueError):
    """The answer named as next page the cursor of the page just read; ``page`` is that page's number."""

    def __init__(self, cursor: str, page: int | None = None):
        self.cursor, self.page = cursor, page
        super().__init__(f"next cursor {cursor!r} came back unchanged")


class Paginator(ABC):
    """One window's walk over pages: the request parameters of each page, from the answer to the one before.

    ``paginate`` calls ``init_request`` once, then per answer ``update_state``; while ``has_next_page``,
    ``update_request`` gives the next page's parameters. A paginator is used for one window, then dropped.
    """

    has_next_page: bool = True

    @abstractmethod
    def init_request(self) -> dict[str, Any]: ...

    @abstractmethod
    def update_state(self, body: Any) -> None: ...

    @abstractmethod
    def update_request(self) -> dict[str, Any]: ...


def _cursor_text(value: Any) -> str:
    # A cursor is echoed back as sent; one that is not a string (a number, a list) goes back as its JSON.
    return value if isinstance(value, str) else json.dumps(value)


class CursorPaginator(Paginator):
    """``body[cursor_path]`` names the next page; it is sent as ``cursor_param``; absent or "" ends the walk."""

    def __init__(self, cursor_param: str = "start_key", cursor_path: str = "next_start_key"):
        self.cursor_param, self.cursor_path = cursor_param, cursor_path
        self.cursor: str | None = None  # the cursor the current page was asked with (None: the first page)
        self._next: str | None = None

    def init_request(self) -> dict[str, Any]:
        self.cursor, self._next, self.has_next_page = None, None, True
        return {}

    def update_state(self, body: Any) -> None:
        value = body.get(self.cursor_path) if isinstance(body, dict) else None
        self.has_next_page = value is not None and value != ""
        self._next = _cursor_text(value) if self.has_next_page else None

    def update_request(self) -> dict[str, Any]:
        if self._next is None:
            raise RuntimeError("no next page: check has_next_page first")
        if self._next == self.cursor:
            raise UnchangedCursor(self._next)
        self.cursor = self._next
        return {self.cursor_param: self.cursor}


class PageNumberPaginator(Paginator):
    """Pages ``base_page``, ``base_page + 1``, ... up to ``total_pages(body)`` of the latest answer."""

    def __init__(self, total_pages: Callable[[Any], int | None], page_param: str = "page", base_page: int = 1):
        self.total_pages, self.page_param, self.base_page = total_pages, page_param, base_page
        self.page = base_page
        self.max_page = 0  # the latest answer's page count (0: it gave none)

    def init_request(self) -> dict[str, Any]:
        self.page, self.max_page, self.has_next_page = self.base_page, 0, True
        return {self.page_param: self.page}

    def update_state(self, body: Any) -> None:
        self.max_page = int(self.total_pages(body) or 0)
        self.has_next_page = self.page < self.max_page

    def update_request(self) -> dict[str, Any]:
        self.page += 1
        return {self.page_param: self.page}


def paginate(fetch: Callable[[dict[str, Any]], Any], paginator: Paginator) -> Iterator[tuple[int, Any]]:
    """Every page of one window as (its number from 1, the answer): ``fetch`` asks for the page with the
    paginator's parameters (and checks the answer); the paginator decides whether there is another."""
    params = paginator.init_request()
    number = 0
    while True:
        number += 1
        body = fetch(params)
        paginator.update_state(body)
        yield number, body
        # Not held while the next page is fetched: a generator's locals live until rebound, and a page decoded
        # is several times its bytes (5,000 KAZOO rows: about 30 MB of objects).
        del body
        if not paginator.has_next_page:
            return
        try:
            params = paginator.update_request()
        except UnchangedCursor as exc:
            exc.page = number
            raise
