"""Client for the KAZOO Crossbar ``cdrs`` API: API-key auth, token refresh, windows and paging."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from cdr.http import RetryPolicy, SourceApiError, send_json

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
    return datetime.fromtimestamp(seconds - GREGORIAN_UNIX_OFFSET, tz=timezone.utc)


def split_windows(start: datetime, end: datetime, max_window: timedelta = MAX_WINDOW) -> list[tuple[datetime, datetime]]:
    """Cut the half-open interval [start, end) into consecutive windows no wider than ``max_window``."""
    if end < start:
        raise ValueError(f"interval ends before it starts: {start} .. {end}")
    windows = []
    cursor = start
    while cursor < end:
        upper = min(cursor + max_window, end)
        windows.append((cursor, upper))
        cursor = upper
    return windows


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
        self.token_lifetime = token_lifetime
        self._api_key = api_key
        self._session = session or requests.Session()
        self._token: str | None = None
        self._token_at = 0.0
        self.auth_count = 0

    def __repr__(self) -> str:  # never show the key or token
        return f"KazooClient({self.base_url!r}, account_id={self.account_id!r})"

    def authenticate(self) -> None:
        _, body = send_json(
            self._session, "PUT", f"{self.base_url}/v2/api_auth",
            source=SOURCE, policy=self.policy, json={"data": {"api_key": self._api_key}},
        )
        token = body.get("auth_token") if isinstance(body, dict) else None
        if not token:
            raise SourceApiError(SOURCE, f"PUT {self.base_url}/v2/api_auth", "answer has no auth_token")
        self._token, self._token_at = token, time.monotonic()
        self.auth_count += 1
        log.info("KAZOO: authenticated to %s (account %s)", self.base_url, self.account_id)

    def _token_fresh(self) -> bool:
        # Renew a little before the server's expiry so a long pull does not spend a request on a 401.
        margin = min(60.0, self.token_lifetime / 10)
        return self._token is not None and time.monotonic() - self._token_at < self.token_lifetime - margin

    def get(self, path: str, params: dict[str, Any]) -> Any:
        if not self._token_fresh():
            self.authenticate()
        url = f"{self.base_url}{path}"
        for attempt in (1, 2):
            try:
                _, body = send_json(
                    self._session, "GET", url, source=SOURCE, policy=self.policy, params=params,
                    headers={"X-Auth-Token": self._token, "Accept": "application/json"},
                )
                return body
            except SourceApiError as exc:
                if exc.status != 401 or attempt == 2:
                    raise
                log.info("KAZOO: token refused (HTTP 401); authenticating again")
                self.authenticate()
        raise AssertionError("unreachable")

    def cdr_pages(self, start: datetime, end: datetime) -> Iterator[Page]:
        """Every page of CDRs created in [start, end), window by window."""
        path = f"/v2/accounts/{self.account_id}/cdrs"
        windows = split_windows(start, end)
        for index, (w_start, w_end) in enumerate(windows, 1):
            start_key: str | None = None
            number = 0
            while True:
                number += 1
                params: dict[str, Any] = {**window_params(w_start, w_end), "page_size": self.page_size}
                if start_key is not None:
                    params["start_key"] = start_key
                body = self.get(path, params)
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise SourceApiError(SOURCE, f"GET {path}", f"answer has no data list: {str(body)[:300]}")
                if body.get("status", "success") != "success":
                    raise SourceApiError(SOURCE, f"GET {path}", f"status {body.get('status')!r}: {str(body)[:300]}")
                yield Page(index, len(windows), number, body["data"], start_key)
                next_key = body.get("next_start_key")
                if next_key is None or next_key == "":
                    break
                next_key = next_key if isinstance(next_key, str) else json.dumps(next_key)
                if next_key == start_key:
                    raise SourceApiError(
                        SOURCE, f"GET {path} page {number} of window {w_start:%Y-%m-%dT%H:%M:%SZ}",
                        f"next_start_key {next_key!r} came back unchanged; stopping rather than looping forever",
                    )
                start_key = next_key

    def phone_numbers(self) -> list[dict[str, Any]] | None:
        """The account's own numbers (``GET .../phone_numbers``), each ``{"number", "state", "used_by", "raw"}``.

        Crossbar answers ``data.numbers`` as an object keyed by number; later releases page a list with
        ``start_key`` like ``cdrs``: both are read. None when the API refuses the account the list (403, 404):
        the pull goes on with the Connection's ``own_numbers``, and the log says so.
        """
        path = f"/v2/accounts/{self.account_id}/phone_numbers"
        numbers: list[dict[str, Any]] = []
        start_key: str | None = None
        while True:
            params: dict[str, Any] = {"page_size": self.page_size}
            if start_key is not None:
                params["start_key"] = start_key
            try:
                body = self.get(path, params)
            except SourceApiError as exc:
                if exc.status in (403, 404):
                    log.warning("KAZOO: the account's phone numbers are not available (%s); using the "
                                "connection's own_numbers only", exc.detail)
                    return None
                raise
            if not isinstance(body, dict) or "data" not in body:
                raise SourceApiError(SOURCE, f"GET {path}", f"answer has no data: {str(body)[:300]}")
            numbers.extend(_numbers_of(body["data"]))
            next_key = body.get("next_start_key")
            if next_key is None or next_key == "":
                break
            next_key = next_key if isinstance(next_key, str) else json.dumps(next_key)
            if next_key == start_key:
                raise SourceApiError(SOURCE, f"GET {path}", f"next_start_key {next_key!r} came back unchanged")
            start_key = next_key
        log.info("KAZOO: the account lists %d phone numbers", len(numbers))
        return numbers


def _numbers_of(data: Any) -> list[dict[str, Any]]:
    """The numbers of one phone_numbers answer, in any of the shapes Crossbar releases give."""
    if isinstance(data, dict):
        listed = data.get("numbers") if isinstance(data.get("numbers"), dict) else {
            key: value for key, value in data.items() if any(ch.isdigit() for ch in key)}
        return [{"number": number, "state": _text(info, "state"), "used_by": _text(info, "used_by"),
                 "raw": {number: info}} for number, info in listed.items()]
    if isinstance(data, list):
        found = []
        for item in data:
            if isinstance(item, str):
                found.append({"number": item, "raw": item})
            elif isinstance(item, dict):
                number = item.get("id") or item.get("number") or item.get("phone_number")
                if number:
                    found.append({"number": str(number), "state": _text(item, "state"),
                                  "used_by": _text(item, "used_by"), "raw": item})
        return found
    raise SourceApiError(SOURCE, "GET phone_numbers", f"data is a {type(data).__name__}, not an object or list")


def _text(info: Any, key: str) -> str | None:
    value = info.get(key) if isinstance(info, dict) else None
    return None if value is None else str(value)
