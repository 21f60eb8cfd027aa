"""Client for Voicenter's Call Log API (``/hub/cdr/``): the pull side of Voicenter, used to reconcile the webhook.

What the vendor documents of the API (its Call Log help pages; examples in tests/fixtures/vendor_samples/voicenter/);
the choices made here:

- One POST per time window, JSON body. The filters go both inside ``search`` (the vendor's help texts and
  most clients) and at the top level (a TS type file and the vendor's own history skill): a server reading
  either place finds the same dates. ``code``, ``fields`` and ``sort`` sit at the top level. The code is only
  ever in the body, so no URL, log line or error message carries it.
- Dates are sent as ``YYYY-MM-DDTHH:MM:SS`` at GMT 0 (the vendor's example form; the API says the value is
  GMT 0). Whether ``todate`` is inclusive is not stated, so windows are asked inclusive of both ends and the
  caller keeps what it owns.
- An answer holds at most 10,000 CDRs and there is no paging. A window whose answer may be cut (``RETURN_HITS``
  at the cap, or below ``TOTAL_HITS``) is halved and both halves asked again, down to ``min_window``; a window
  that small still over the cap is an error that says so. Halves share their edge second, so records are
  de-duplicated on ``CallID``; a record without one cannot be reconciled and is handed back apart.
- Requests are paced by a token bucket at ``requests_per_minute`` (the vendor's limit: 30). ``ERROR_NUMBER``
  1 (rate limited) is retried with back-off through ``cdr.sources.http.send_json`` (the session presents it as HTTP
  429); any other ``ERROR_NUMBER`` but 0 fails at once, naming the number and the description.
- Response keys are matched case-insensitively (real answers have been seen all in lower case).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from cdr.sources.http import RetryPolicy, SourceApiError, send_json
from cdr.values import as_int

log = logging.getLogger(__name__)

SOURCE = "Voicenter Call Log"
ENDPOINT = "/hub/cdr/"
ANSWER_CAP = 10_000
DEFAULT_REQUESTS_PER_MINUTE = 30.0
MIN_WINDOW = timedelta(minutes=1)
# Rate limiting is per minute: back off long enough that a retry lands in a fresh minute.
CALL_LOG_POLICY = RetryPolicy(attempts=6, backoff=5.0, max_wait=60.0)
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Every field the vendor lists that maps onto a webhook column (see reconcile.to_row), and the two ids.
DEFAULT_FIELDS = (
    "CallID",
    "Date",
    "DateEpoch",
    "CallerNumber",
    "TargetNumber",
    "Duration",
    "Type",
    "CdrType",
    "DialStatus",
    "DialStatus2",
    "TargetExtension",
    "CallerExtension",
    "DID",
    "QueueName",
    "RecordURL",
    "RecordExpect",
    "Price",
    "RingTime",
    "RepresentativeName",
    "RepresentativeCode",
    "UserName",
    "UserId",
    "DTMFData",
    "CustomData",
    "DepartmentName",
    "DepartmentId",
    "TargetPrefixName",
)
REQUIRED_FIELDS = ("CallID", "Date")

# The error codes of the vendor's Call Log API document (its table of errors); the hint says what an operator
# should check.
ERRORS = {
    1: "rate limit exceeded",
    2: "authorization failed: the organisation code (the Connection's password) was refused",
    4: "this machine's IP address is not authorized in the Voicenter account (CPanel, API Settings)",
    5: "date range invalid",
}
RATE_LIMITED = 1


class CallLogError(SourceApiError):
    """An answer whose ERROR_NUMBER is not 0, or a window that cannot be answered whole."""

    def __init__(self, request: str, detail: str, error_number: int | None = None, status: int | None = None):
        self.error_number = error_number
        super().__init__(SOURCE, request, detail, status=status)


def fold(mapping: Any) -> dict[str, Any]:
    """The mapping with lower-cased keys, so ``CallID``, ``callid`` and ``CallId`` read alike."""
    if not isinstance(mapping, dict):
        return {}
    return {str(key).lower(): value for key, value in mapping.items()}


def get_ci(mapping: dict[str, Any], name: str) -> Any:
    """One key of a source record, whatever its casing."""
    if name in mapping:
        return mapping[name]
    return fold(mapping).get(name.lower())


def format_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: the Call Log API takes GMT 0, give an aware datetime")
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def parse_date(value: Any) -> datetime | None:
    """A Call Log ``Date`` as an aware UTC datetime: ISO 8601 with ``Z``, an offset or none (GMT 0), or
    ``YYYY-MM-DD HH:MM:SS``; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class TokenBucket:
    """At most ``rate_per_minute`` acquisitions a minute, ``burst`` of them back to back (1: even spacing)."""

    def __init__(
        self,
        rate_per_minute: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be positive, not {rate_per_minute!r}")
        self.rate = rate_per_minute / 60.0
        self.burst = max(1, int(burst))
        self._clock, self._sleep = clock, sleep
        self._tokens = float(self.burst)
        self._at = clock()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self._sleep(wait)
                self.waited += wait
                self._at = self._clock()
                self._tokens = 1.0
            self._tokens -= 1


class _CallLogSession(requests.Session):
    """Paces every request, retries included, and presents the API's envelope in HTTP terms for send_json:
    ERROR_NUMBER 1 as 429 (retried with back-off), any other envelope as 200 so the client reads its
    ERROR_NUMBER and description instead of a bare 403 or 404."""

    def __init__(self, bucket: TokenBucket):
        super().__init__()
        self.bucket = bucket

    def request(self, method, url, *args, **kwargs):
        self.bucket.acquire()
        response = super().request(method, url, *args, **kwargs)
        if response.status_code < 500:
            try:
                envelope = fold(response.json())
            except ValueError:
                return response
            number = as_int(envelope.get("error_number"))
            if number == RATE_LIMITED:
                response.status_code = 429
            elif number is not None and not 200 <= response.status_code < 300:
                response.headers["X-Voicenter-HTTP-Status"] = str(response.status_code)
                response.status_code = 200
        return response


@dataclass
class Answer:
    records: list[dict]
    total: int
    returned: int


@dataclass
class LogPull:
    """What the call log holds for a window: records by CallID, and those without a CallID apart."""

    records: dict[str, dict] = field(default_factory=dict)
    unidentified: list[dict] = field(default_factory=list)
    requests: int = 0
    splits: int = 0
    duplicates: int = 0


class CallLogClient:
    def __init__(
        self,
        endpoint: str,
        code: str,
        *,
        fields: Iterable[str] | None = None,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        policy: RetryPolicy = CALL_LOG_POLICY,
        cap: int = ANSWER_CAP,
        min_window: timedelta = MIN_WINDOW,
        bucket: TokenBucket | None = None,
    ):
        if not endpoint or not code:
            raise ValueError("the Voicenter Call Log needs its URL (host) and the organisation code (password)")
        self.endpoint = endpoint
        self.fields = with_required_fields(fields)
        self.policy = policy
        self.cap = int(cap)
        if min_window < timedelta(seconds=2):
            raise ValueError("min_window must be at least 2 seconds: dates are sent to the second")
        self.min_window = min_window
        self._code = code
        self._session = _CallLogSession(bucket or TokenBucket(requests_per_minute))

    def __repr__(self) -> str:  # never show the code
        return f"CallLogClient({self.endpoint!r})"

    def body(self, start: datetime, end: datetime) -> dict[str, Any]:
        dates = {"fromdate": format_date(start), "todate": format_date(end)}
        return {
            "code": self._code,
            "fields": list(self.fields),
            "sort": [{"field": "date", "order": "asc"}],
            "search": dict(dates),
            **dates,
        }

    def query(self, start: datetime, end: datetime) -> Answer:
        """One request for the window [start, end] (both ends as sent; the server decides inclusiveness)."""
        request = f"POST {self.endpoint} fromdate={format_date(start)} todate={format_date(end)}"
        try:
            _, body = send_json(
                self._session,
                "POST",
                self.endpoint,
                source=SOURCE,
                policy=self.policy,
                json=self.body(start, end),
                headers={"Accept": "application/json"},
            )
        except SourceApiError as exc:
            if exc.status == 429:
                raise CallLogError(
                    request,
                    f"still rate limited (ERROR_NUMBER 1) after {self.policy.attempts} attempts: {exc.detail}",
                    RATE_LIMITED,
                    429,
                ) from exc
            raise
        envelope = fold(body)
        if not envelope:
            raise CallLogError(request, f"answer is not a JSON object: {json.dumps(body)[:300]}")
        number = as_int(envelope.get("error_number"))
        records = envelope.get("cdr_list")
        if number is None and "error_number" in envelope:
            raise CallLogError(request, f"ERROR_NUMBER {envelope['error_number']!r} is not a number")
        if number is not None and number != 0:
            description = envelope.get("error_description") or "(no ERROR_DESCRIPTION)"
            hint = ERRORS.get(number, "an error number the vendor does not document")
            raise CallLogError(
                request, f"ERROR_NUMBER {number} ({description}): {hint}", number, as_int(envelope.get("status_code"))
            )
        if records is None:
            records = []
        if not isinstance(records, list):
            raise CallLogError(request, f"CDR_LIST is not a list: {json.dumps(records)[:300]}")
        returned = as_int(envelope.get("return_hits"))
        total = as_int(envelope.get("total_hits"))
        returned = len(records) if returned is None else returned
        return Answer(records, returned if total is None else total, returned)

    def full(self, answer: Answer) -> bool:
        return answer.returned < answer.total or max(answer.returned, len(answer.records)) >= self.cap

    def pull(self, start: datetime, end: datetime) -> LogPull:
        """Every record the log holds for [start, end], halving any window whose answer may be cut."""
        if end <= start:
            raise ValueError(f"window ends before it starts: {start} .. {end}")
        result = LogPull()
        pending = [(start, end)]
        while pending:
            w_start, w_end = pending.pop()
            answer = self.query(w_start, w_end)
            result.requests += 1
            if self.full(answer):
                if w_end - w_start <= self.min_window:
                    raise CallLogError(
                        f"POST {self.endpoint} fromdate={format_date(w_start)} todate={format_date(w_end)}",
                        f"{answer.total} CDRs (TOTAL_HITS; {answer.returned} returned) in a window of "
                        f"{(w_end - w_start).total_seconds():.0f}s (the minimum is "
                        f"{self.min_window.total_seconds():.0f}s), and one answer holds at most {self.cap}: "
                        "the log cannot be read whole here",
                    )
                half = timedelta(seconds=int((w_end - w_start).total_seconds()) // 2)
                middle = w_start + half
                result.splits += 1
                log.info(
                    "%s: %s..%s holds %d CDRs (%d returned, cap %d): halving",
                    SOURCE,
                    format_date(w_start),
                    format_date(w_end),
                    answer.total,
                    answer.returned,
                    self.cap,
                )
                # Earlier half last on the stack, so windows are read in time order.
                pending += [(middle, w_end), (w_start, middle)]
                continue
            for record in answer.records:
                call_id = get_ci(record, "CallID") if isinstance(record, dict) else None
                if call_id in (None, ""):
                    result.unidentified.append(record)
                elif str(call_id) in result.records:
                    result.duplicates += 1
                else:
                    result.records[str(call_id)] = record
        log.info(
            "%s: %s..%s: %d CDRs in %d requests (%d windows halved, %d repeated at window edges)",
            SOURCE,
            format_date(start),
            format_date(end),
            len(result.records),
            result.requests,
            result.splits,
            result.duplicates,
        )
        return result


def with_required_fields(fields: Iterable[str] | None) -> tuple[str, ...]:
    """The Connection's field list (or ours), with the two fields reconciliation cannot do without."""
    chosen = [str(name) for name in (fields or DEFAULT_FIELDS)]
    have = {name.lower() for name in chosen}
    missing = [name for name in REQUIRED_FIELDS if name.lower() not in have]
    if missing and fields:
        log.info("%s: adding %s to the Connection's fields: reconciliation needs them", SOURCE, ", ".join(missing))
    return tuple(chosen + missing)


def endpoint_url(base: str) -> str:
    """The Call Log endpoint under a base URL; a host given with the path already is taken as it is."""
    base = base.rstrip("/")
    return base + "/" if base.endswith("/hub/cdr") else base + ENDPOINT
