"""Client for the While1 Voice PBX ``/api/cdr``: signed POSTs, local wall-clock filters, every page.

Pages are numbered (cdr.sources.paging.PageNumberPaginator on ``pagination.max_page``); each page is its own signed
request, since the signature covers the page number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from cdr.registry import SOURCES
from cdr.sources import paging
from cdr.sources.http import RetryPolicy, SourceApiError, SourceSession, send_json
from cdr.sources.pbx.phpquery import api_hash, http_build_query

log = logging.getLogger(__name__)

SOURCE = "PBX"
DEFAULT_TIMEZONE = SOURCES["pbx"].default_timezone
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_range(start: datetime, end: datetime, tz: ZoneInfo) -> list[str]:
    """``date_between`` for the half-open UTC interval [start, end): the PBX's wall-clock time, both ends
    inclusive to the second, as the vendor's example (``... 23:59:59``) has it."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("give aware datetimes: the interval is UTC, the PBX filter is local time")
    first = datetime.fromtimestamp(math.ceil(start.timestamp()), UTC)
    last = datetime.fromtimestamp(math.ceil(end.timestamp()) - 1, UTC)
    return [first.astimezone(tz).strftime(LOCAL_FORMAT), last.astimezone(tz).strftime(LOCAL_FORMAT)]


@dataclass(frozen=True)
class Page:
    number: int
    max_page: int
    rows: list[Any]

    @property
    def label(self) -> str:
        return f"page {self.number}/{self.max_page}"

    @property
    def batch(self) -> str:
        return f"p{self.number}"


class PbxClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        api_key: str,
        *,
        timezone_name: str = DEFAULT_TIMEZONE,
        policy: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
    ):
        if not base_url or not token or not api_key:
            raise ValueError("the PBX needs a base URL (host), a Bearer token (password) and an api_key (extra)")
        self.url = f"{base_url.rstrip('/')}/api/cdr"
        self.tz = ZoneInfo(timezone_name)
        self.policy = policy
        self._token = token
        self._api_key = api_key
        self._session = session or SourceSession()

    def __repr__(self) -> str:  # never show the token or key
        return f"PbxClient({self.url!r}, timezone={self.tz.key!r})"

    def request_page(self, filters: dict[str, Any], page: int) -> dict[str, Any]:
        params = {"page": page, "filters": filters}
        body = http_build_query({**params, "api_hash": api_hash(params, self._api_key)})
        described = f"page {page} of filters {filters}"
        try:
            _, envelope = send_json(
                self._session,
                "POST",
                self.url,
                source=SOURCE,
                policy=self.policy,
                data=body.encode(),
                records_at="results",
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
            )
        except SourceApiError as exc:
            raise SourceApiError(SOURCE, f"POST {self.url} ({described})", exc.detail, exc.status) from exc
        if not isinstance(envelope, dict):
            raise SourceApiError(
                SOURCE, f"POST {self.url} ({described})", f"answer is not an object: {envelope!r:.300}"
            )
        if envelope.get("has_error"):
            messages = envelope.get("messages") or ["(no message)"]
            raise SourceApiError(
                SOURCE, f"POST {self.url} ({described})", "the PBX answered has_error: " + "; ".join(map(str, messages))
            )
        if not isinstance(envelope.get("results"), list):
            raise SourceApiError(
                SOURCE, f"POST {self.url} ({described})", f"answer has no results list: {envelope!r:.300}"
            )
        return envelope

    def cdr_pages(self, start: datetime, end: datetime) -> Iterator[Page]:
        """Every page of the CDRs whose call time (PBX local time) falls in [start, end), up to ``max_page``."""
        filters = {"date_between": local_range(start, end, self.tz)}
        numbers = paging.PageNumberPaginator(max_page)
        for number, envelope in paging.paginate(lambda params: self.request_page(filters, params["page"]), numbers):
            yield Page(number, max(numbers.max_page, number), envelope["results"])
            del envelope  # not held while the next page is fetched (paging.paginate)


def max_page(envelope: dict[str, Any]) -> int:
    """The answer's page count (``pagination.max_page``); 0 when it gives none, which ends the walk."""
    pagination = envelope.get("pagination")
    if not isinstance(pagination, dict):
        pagination = {}
    return int(pagination.get("max_page") or 0)


def lookback_start(start: datetime, hours: float) -> datetime:
    return start - timedelta(hours=hours)
