"""One retrying HTTP call shared by the pull sources, with errors that say which source, request and answer."""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
import requests
import requests.auth
from requests.sessions import merge_setting
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger(__name__)

# Throttling and server-side trouble are transient by nature; any other status is an answer to act on.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
BODY_EXCERPT = 500


class SourceApiError(RuntimeError):
    """A source API call that failed for good: names the source, the request and what the server said."""

    def __init__(self, source: str, request: str, detail: str, status: int | None = None):
        self.source = source
        self.request = request
        self.status = status
        self.detail = detail
        super().__init__(f"{source}: {request} failed: {detail}")


class _Transient(Exception):
    """Raised inside the retry loop for an answer worth trying again."""

    def __init__(self, detail: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff: float = 1.0  # first wait in seconds; doubles each attempt, with jitter
    max_wait: float = 60.0
    timeout: tuple[float, float] = (10.0, 120.0)  # connect, read


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class SourceSession(requests.Session):
    """A requests session that reads the environment's proxy settings once per host. requests reads them on every
    request (every variable of os.environ, each time): a pull of 2,000 small pages spent 8% of its time there
    (bench/pbx_pull.py, profiled). Nothing changes the environment during a pull; the settings are requests' own."""

    def __init__(self) -> None:
        super().__init__()
        self._environ_proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        proxies = {} if proxies is None else proxies
        no_proxy = proxies.get("no_proxy")
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        found = self._environ_proxies.get(key)
        if found is None:
            found = self._environ_proxies[key] = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
        for name, value in found.items():
            proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def describe(method: str, url: str, params: dict[str, Any] | None = None) -> str:
    """The request as an operator would type it; callers never put secrets in URLs or params."""
    prepared = requests.Request(method, url, params=params).prepare()
    return f"{method} {prepared.url}"


_decode = msgspec.json.Decoder().decode


class Records(list):
    """A page's list of records, decoded, with each record's JSON text exactly as the server sent it (``raw``:
    msgspec.Raw, a view of the body's bytes that ``bytes()`` copies out, in the same order): the lake keeps those
    bytes as ``_raw`` rather than writing the record again."""

    __slots__ = ("raw",)

    def __init__(self, records: list[Any], raw: list[msgspec.Raw]):
        super().__init__(records)
        self.raw = raw


_RAW_DECODERS: dict[str, msgspec.json.Decoder] = {}


def _raw_slices(content: bytes, key: str) -> list[msgspec.Raw] | None:
    """The bytes of each item of the body's top-level list ``key``, as sent (msgspec.Raw: found, not decoded)."""
    decoder = _RAW_DECODERS.get(key)
    if decoder is None:
        envelope = msgspec.defstruct("Envelope", [(key, list[msgspec.Raw] | None, None)])
        decoder = _RAW_DECODERS[key] = msgspec.json.Decoder(envelope)
    try:
        items = getattr(decoder.decode(content), key)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return items


def parse_json(content: bytes, records_at: str | None = None, charset: str | None = None) -> Any:
    """The body's JSON. msgspec reads UTF-8 JSON several times faster than ``json`` and to the same values
    (integers of any size stay exact, where orjson would make a 20-digit one a float); a body it refuses
    (another encoding, a BOM, NaN) is read as ``requests`` reads it (``charset``: the one the answer declares),
    so that what decodes is what decoded before, and a page in Latin-1 is a page, not an error.

    With ``records_at``, the body's list under that key comes as ``Records``: with each record's bytes as sent."""
    try:
        body = _decode(content)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return _requests_json(content, charset)
    if records_at is not None and isinstance(body, dict) and isinstance(body.get(records_at), list):
        raw = _raw_slices(content, records_at)
        # the same list twice over (a key sent twice could make them differ: then the records are written again)
        if raw is not None and len(raw) == len(body[records_at]):
            body[records_at] = Records(body[records_at], raw)
    return body


def _requests_json(content: bytes, charset: str | None = None) -> Any:
    """``requests.Response.json()``: the declared charset; else UTF-8, -16 or -32 as the first bytes say; else the
    encoding the bytes look like (as ``Response.text`` guesses it)."""
    encodings = [charset] if charset else []
    if len(content) > 3 and (found := requests.utils.guess_json_utf(content)):
        encodings.append(found)
    detector = requests.compat.chardet  # charset_normalizer or chardet, whichever requests found
    if detector is not None:
        encodings.append(detector.detect(content)["encoding"] or "utf-8")
    for encoding in encodings:
        try:
            return json.loads(content.decode(encoding))
        except (UnicodeDecodeError, LookupError):
            continue
    return json.loads(content.decode("utf-8", "replace"))


# A body read 1 MiB at a time: requests' own ``content`` reads 10 KiB at a time, and a 2 MB page of long KAZOO
# rows took 5 ms that way against 2 ms (bench/kazoo_pull.py, long-short: a tenth of the pull).
BODY_CHUNK = 1 << 20


def read_body(response: requests.Response) -> bytes:
    """The whole body of a response requested with ``stream=True``."""
    return b"".join(response.iter_content(BODY_CHUNK))


def excerpt(response: requests.Response | bytes) -> str:
    text = response.decode("utf-8", "replace") if isinstance(response, bytes) else (response.text or "")
    text = " ".join(text.split())
    return text[:BODY_EXCERPT] + ("..." if len(text) > BODY_EXCERPT else "")


def send_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    source: str,
    policy: RetryPolicy,
    params: dict[str, Any] | None = None,
    records_at: str | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """Send one request, retrying transient failures; return (status, parsed JSON body).

    2xx answers return their JSON (with ``records_at``, that list as ``Records``: see parse_json). 4xx answers
    other than 408/429 raise SourceApiError at once, with ``status`` set so that callers can react (KAZOO
    re-authenticates on 401).
    """

    def request() -> str:  # for logs and errors only: preparing a URL cost 8% of a pull of 50-row pages
        return describe(method, url, params)

    def wait(retry_state) -> float:
        exc = retry_state.outcome.exception()
        backoff = wait_exponential_jitter(multiplier=policy.backoff, max=policy.max_wait, jitter=policy.backoff)(
            retry_state
        )
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_wait)
        return backoff

    def before_sleep(retry_state) -> None:
        exc = retry_state.outcome.exception()
        log.warning(
            "%s: %s: attempt %d/%d failed (%s); retrying in %.1fs",
            source,
            request(),
            retry_state.attempt_number,
            policy.attempts,
            exc,
            retry_state.next_action.sleep,
        )

    def attempt() -> tuple[int, Any]:
        try:
            response = session.request(method, url, params=params, timeout=policy.timeout, stream=True, **kwargs)
            status = response.status_code
            if status in RETRY_STATUSES:
                raise _Transient(
                    f"HTTP {status}: {excerpt(response)}",
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    status=status,
                )
            if not 200 <= status < 300:
                raise SourceApiError(source, request(), f"HTTP {status}: {excerpt(response)}", status=status)
            content = read_body(response)
        except requests.Timeout as exc:
            raise _Transient(f"timed out ({type(exc).__name__})") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from exc
        try:
            return status, parse_json(content, records_at, requests.utils.get_encoding_from_headers(response.headers))
        except ValueError as exc:
            # A body cut short by a dropped connection reads as invalid JSON: worth another try.
            raise _Transient(f"HTTP {status} with a body that is not JSON: {excerpt(content)}", status=status) from exc

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(_Transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Transient as exc:
        raise SourceApiError(
            source, request(), f"gave up after {policy.attempts} attempts; last answer: {exc.detail}", status=exc.status
        ) from exc


class RenewingTokenAuth(requests.auth.AuthBase):
    """A session token in a header, fetched when there is none or it nears ``lifetime``, fetched again and the
    request sent once more when the server answers 401 (the token died early); a second 401 is the answer.

    ``fetch_token`` gets a new token (it sends its own request, without this auth). The retry happens inside
    the response hook, so the caller's retry loop (send_json) sees the answer to the retried request.
    """

    def __init__(self, fetch_token: Callable[[], str], *, header: str, lifetime: float, source: str):
        self.fetch_token, self.header, self.lifetime, self.source = fetch_token, header, lifetime, source
        self.token: str | None = None
        self._token_at = 0.0

    def renew(self) -> str:
        self.token, self._token_at = self.fetch_token(), time.monotonic()
        return self.token

    def fresh(self) -> bool:
        # Renew a little before the server's expiry so a long pull does not spend a request on a 401.
        margin = min(60.0, self.lifetime / 10)
        return self.token is not None and time.monotonic() - self._token_at < self.lifetime - margin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.token
        request.headers[self.header] = token if token is not None and self.fresh() else self.renew()
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        log.info("%s: token refused (HTTP 401); authenticating again", self.source)
        response.content  # noqa: B018 - read and release the refused answer before reusing its connection
        response.close()
        retry = response.request.copy()
        retry.headers[self.header] = self.renew()
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again


def utcnow() -> datetime:
    return datetime.now(UTC)
