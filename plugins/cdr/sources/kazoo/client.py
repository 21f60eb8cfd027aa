"""Client for the KAZOO Crossbar ``cdrs`` API: API-key auth, token refresh, windows and paging.

The parts are cdr.sources.paging's: windows of at most 31 days, each walked by its ``next_start_key`` cursor; the
token is a RenewingTokenAuth (renewed near its lifetime, and once on a 401). The client says what a page is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from cdr.sources import paging
from cdr.sources.http import RenewingTokenAuth, RetryPolicy, SourceApiError, SourceSession, send_json

log = logging.getLogger(__name__)

SOURCE = "KAZOO"
# Gregorian seconds count from 0001-01-01 (Erlang's calendar); Unix seconds from 1970-01-01.
GREGORIAN_UNIX_OFFSET = 62_167_219_200
# Crossbar refuses created_from/created_to ranges wider than 31 days (+1 hour of slack we do not lean on).
MAX_WINDOW = timedelta(days=31)
DEFAULT_TOKEN_LIFETIME = 3600.0


def to_gregorian(moment: datetime) -> int:
    """Whole Gregorian seconds at or after ``moment`` (so a half-open interval maps to whole seconds)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: KAZOO timestamps are UTC, give an aware datetime")
    return math.ceil(moment.timestamp()) + GREGORIAN_UNIX_OFFSET


def from_gregorian(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(seconds - GREGORIAN_UNIX_OFFSET, tz=UTC)


def split_windows(
    start: datetime, end: datetime, max_window: timedelta = MAX_WINDOW
) -> list[tuple[datetime, datetime]]:
    """Cut the half-open interval [start, end) into windows Crossbar accepts (see cdr.sources.paging.split_windows)."""
    return paging.split_windows(start, end, max_window)


def window_params(start: datetime, end: datetime) -> dict[str, int]:
    """created_from/created_to for [start, end): both bounds are inclusive on the server, so end - 1 s."""
    return {"created_from": to_gregorian(start), "created_to": to_gregorian(end) - 1}


@dataclass(frozen=True)
class Page:
    window: int
    windows: int
    number: int
    rows: list[Any]
    start_key: str | None

    @property
    def label(self) -> str:
        return f"window {self.window}/{self.windows} page {self.number}"

    @property
    def batch(self) -> str:
        return f"w{self.window}p{self.number}"


class KazooClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        account_id: str,
        *,
        page_size: int = 500,
        policy: RetryPolicy = RetryPolicy(),
        token_lifetime: float = DEFAULT_TOKEN_LIFETIME,
        session: requests.Session | None = None,
    ):
        if not base_url or not api_key or not account_id:
            raise ValueError("KAZOO needs a base URL (host), an API key (password) and an account_id (extra)")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.page_size = int(page_size)
        self.policy = policy
        self._api_key = api_key
        self._session = session or SourceSession()
        self._auth = RenewingTokenAuth(self._fetch_token, header="X-Auth-Token", lifetime=token_lifetime, source=SOURCE)
        self.auth_count = 0

    def __repr__(self) -> str:  # never show the key or token
        return f"KazooClient({self.base_url!r}, account_id={self.account_id!r})"

    @property
    def token_lifetime(self) -> float:
        return self._auth.lifetime

    def _fetch_token(self) -> str:
        _, body = send_json(
            self._session,
            "PUT",
            f"{self.base_url}/v2/api_auth",
            source=SOURCE,
            policy=self.policy,
            json={"data": {"api_key": self._api_key}},
        )
        token = body.get("auth_token") if isinstance(body, dict) else None
        if not token:
            raise SourceApiError(SOURCE, f"PUT {self.base_url}/v2/api_auth", "answer has no auth_token")
        self.auth_count += 1
        log.info("KAZOO: authenticated to %s (account %s)", self.base_url, self.account_id)
        return token

    def authenticate(self) -> None:
        self._auth.renew()

    def get(self, path: str, params: dict[str, Any], records_at: str | None = None) -> Any:
        """One GET with the account's token: renewed when it nears its lifetime, and once more on a 401."""
        _, body = send_json(
            self._session,
            "GET",
            f"{self.base_url}{path}",
            source=SOURCE,
            policy=self.policy,
            params=params,
            records_at=records_at,
            headers={"Accept": "application/json"},
            auth=self._auth,
        )
        return body

    def _cdr_answer(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = self.get(path, params, records_at="data")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SourceApiError(SOURCE, f"GET {path}", f"answer has no data list: {str(body)[:300]}")
        if body.get("status", "success") != "success":
            raise SourceApiError(SOURCE, f"GET {path}", f"status {body.get('status')!r}: {str(body)[:300]}")
        return body

    def cdr_pages(self, start: datetime, end: datetime) -> Iterator[Page]:
        """Every page of CDRs created in [start, end), window by window, each window by its cursor."""
        path = f"/v2/accounts/{self.account_id}/cdrs"
        windows = split_windows(start, end)
        for index, (w_start, w_end) in enumerate(windows, 1):
            window = {**window_params(w_start, w_end), "page_size": self.page_size}
            cursor = paging.CursorPaginator()

            # a def: mypy cannot type a lambda with a default parameter (which binds this loop's window)
            def fetch(params: dict[str, Any], window: dict[str, int] = window) -> dict[str, Any]:
                return self._cdr_answer(path, {**window, **params})

            try:
                for number, body in paging.paginate(fetch, cursor):
                    yield Page(index, len(windows), number, body["data"], cursor.cursor)
                    del body  # not held while the next page is fetched (paging.paginate)
            except paging.UnchangedCursor as exc:
                raise SourceApiError(
                    SOURCE,
                    f"GET {path} page {exc.page} of window {w_start:%Y-%m-%dT%H:%M:%SZ}",
                    f"next_start_key {exc.cursor!r} came back unchanged; stopping rather than looping forever",
                ) from None

    def _numbers_answer(self, path: str, params: dict[str, Any]) -> Any:
        body = self.get(path, params)
        if not isinstance(body, dict) or "data" not in body:
            raise SourceApiError(SOURCE, f"GET {path}", f"answer has no data: {str(body)[:300]}")
        return body

    def phone_numbers(self) -> list[dict[str, Any]] | None:
        """The account's own numbers (``GET .../phone_numbers``), each ``{"number", "state", "used_by", "raw"}``.

        Crossbar answers ``data.numbers`` as an object keyed by number; later releases page a list with
        ``start_key`` like ``cdrs``: both are read. None when the API refuses the account the list (403, 404):
        the pull goes on with the Connection's ``own_numbers``, and the log says so.
        """
        path = f"/v2/accounts/{self.account_id}/phone_numbers"
        numbers: list[dict[str, Any]] = []
        pages = paging.paginate(
            lambda params: self._numbers_answer(path, {"page_size": self.page_size, **params}), paging.CursorPaginator()
        )
        try:
            for _, body in pages:
                numbers.extend(_numbers_of(body["data"]))
        except SourceApiError as exc:
            if exc.status in (403, 404):
                log.warning(
                    "KAZOO: the account's phone numbers are not available (%s); using the "
                    "connection's own_numbers only",
                    exc.detail,
                )
                return None
            raise
        except paging.UnchangedCursor as exc:
            raise SourceApiError(SOURCE, f"GET {path}", f"next_start_key {exc.cursor!r} came back unchanged") from None
        log.info("KAZOO: the account lists %d phone numbers", len(numbers))
        return numbers


def _numbers_of(data: Any) -> list[dict[str, Any]]:
    """The numbers of one phone_numbers answer, in any of the shapes Crossbar releases give."""
    if isinstance(data, dict):
        numbers = data.get("numbers")
        listed = (
            numbers
            if isinstance(numbers, dict)
            else {key: value for key, value in data.items() if any(ch.isdigit() for ch in key)}
        )
        return [
            {"number": number, "state": _text(info, "state"), "used_by": _text(info, "used_by"), "raw": {number: info}}
            for number, info in listed.items()
        ]
    if isinstance(data, list):
        found: list[dict[str, Any]] = []
        for item in data:
            if isinstance(item, str):
                found.append({"number": item, "raw": item})
            elif isinstance(item, dict):
                number = item.get("id") or item.get("number") or item.get("phone_number")
                if number:
                    found.append(
                        {
                            "number": str(number),
                            "state": _text(item, "state"),
                            "used_by": _text(item, "used_by"),
                            "raw": item,
                        }
                    )
        return found
    raise SourceApiError(SOURCE, "GET phone_numbers", f"data is a {type(data).__name__}, not an object or list")


def _text(info: Any, key: str) -> str | None:
    value = info.get(key) if isinstance(info, dict) else None
    return None if value is None else str(value)
