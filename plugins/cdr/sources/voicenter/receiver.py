"""`cdr-receiver`: the web service Voicenter POSTs each CDR to (docs/contract.md, Voicenter receiver).

Every request ends in one of these answers, never a 500 for anything a sender can put in a body:
Err 0 (HTTP 200) only once the CDR is durably staged (voicenter.staging, fsynced), byte for byte beside its
decoded fields (voicenter.formats); Err 1 (HTTP 400) only for a body that is not a CDR (voicenter.bounds:
an Err 1 is a CDR lost for good), kept in quarantine byte for byte; Err 2 (HTTP 503) when it cannot store (the
disk, or the day's quarantine cap), so that Voicenter sends again; 401 without the token, checked before the body
is read; 413 over the size cap; 408, 431 and 503 for connections past the limits below.

Limits against hostile or broken senders, bounded before authentication (``protocol_class``): a deadline on each
request (``CDR_RECEIVER_REQUEST_TIMEOUT``), a request head of at most 32 KiB and 100 headers, at most
``CDR_RECEIVER_MAX_CONNECTIONS_PER_CLIENT`` connections per address that have not shown the token, and
``CDR_RECEIVER_MAX_CONNECTIONS`` for requests without the token; a wrong token is answered after a second and its
connection closed; the token must be at least 32 characters or the receiver does not start. Refusals of each kind
are logged as one line per interval with a count.

The token (query `token` or `Authorization: Bearer`) and the body never reach a log or a note: uvicorn's access
log is off, ours names only the path, the reason and the size. No answer redirects (a redirect would repeat the
token in its Location) or tells where the data lives.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cdr.lake.quarantine import DailyCap, quarantine
from cdr.settings import SettingsError, settings
from cdr.sources.voicenter.bounds import MAX_BODY
from cdr.sources.voicenter.formats import ParseError, answer, detect, parse, staged_line
from cdr.sources.voicenter.staging import SegmentWriter, landing_folder

log = logging.getLogger("cdr.sources.voicenter.receiver")

MIN_TOKEN_CHARS = 32
REFUSED_DELAY = 1.0  # seconds before a 401


class CountedLog:
    """One log line per ``interval`` with how many times something happened, instead of one line each time.

    The first occurrence is logged at once; later ones are counted and logged when the interval has passed (at
    the next occurrence, or by ``flush``).
    """

    def __init__(self, message: str, interval: float):
        self.message, self.interval = message, interval
        self.count = 0
        self._last = float("-inf")

    def hit(self) -> None:
        self.count += 1
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.count:
            log.warning(self.message, self.count)
            self.count = 0
        self._last = time.monotonic()


class CountFlooding(logging.Filter):
    """Turns uvicorn's one warning per refused request (past the connection cap, unparsable HTTP) into counted
    lines, so that a flood of them cannot flood the log."""

    def __init__(self, interval: float):
        super().__init__()
        self.counted = {
            message: CountedLog(f"Voicenter: %d request(s): {message}", interval)
            for message in (
                "Exceeded concurrency limit.",
                "Invalid HTTP request received.",
                "Unsupported upgrade request.",
            )
        }

    def filter(self, record: logging.LogRecord) -> bool:
        counted = self.counted.get(record.getMessage())
        if counted is None:
            return True
        counted.hit()
        return False

    def flush(self) -> None:
        for counted in self.counted.values():
            counted.flush()


MAX_HEAD_BYTES = 32 * 1024  # the request line and headers; Voicenter's, through a proxy, take under 2 KiB
MAX_HEADERS = 100
MIN_BODY_RATE = 64 * 1024  # bytes a second: the time an authorized body of MAX_BODY may take on top of the deadline
BUSY_ANSWER = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
AUTHORIZED = "cdr.authorized"  # set in a request's scope by the protocol once it has seen the token
HEAD_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def given_token(query: bytes, headers) -> bytes:
    """The token a request carries: the query's ``token``, else ``Authorization: Bearer``; b"" if none."""
    if query[:6] == b"token=" and b"&" not in query and b"%" not in query and b"+" not in query:
        return query[6:]  # the usual `?token=...`, read without a parse
    if b"token=" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key == "token":
                return value.encode("latin-1", "replace")
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    return b""


def authorized(token: bytes, query: bytes, headers) -> bool:
    given = given_token(query, headers)
    return bool(given) and hmac.compare_digest(given, token)


@dataclass
class Limits:
    """What a connection may cost before and after it shows the token (server_options)."""

    request_timeout: float
    max_connections: int
    per_client: int = 0  # connections one address may hold open before showing the token; 0: no cap
    token: bytes | None = None  # requests carrying it are served past max_connections
    max_head: int = MAX_HEAD_BYTES
    max_headers: int = MAX_HEADERS


def protocol_class(limits: Limits, logs: dict[str, CountedLog] | None = None) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, bounded before authentication (uvicorn's own limits cover only h11):

    * a deadline on each request, from the connection (or the first byte of a later request on it) to its last
      body byte, else 408 and close: uvicorn itself times out only idle kept-alive connections, so a client that
      sends half a request would hold its connection forever. A request with the token and a body over
      ``MIN_BODY_RATE`` bytes gets a second more per ``MIN_BODY_RATE`` bytes it announces, so that a slow
      link does not cut off a two-hour call's CDR;
    * a request head (line and headers) of at most ``max_head`` bytes and ``max_headers`` headers, else 431 and
      close. httptools buffers a header whole, and by concatenation: a 67 MiB header cost 178 MB and the CPU to
      copy it, before the token could be looked at;
    * at most ``per_client`` connections from one address that have not shown the token yet; past it a new
      one is answered 503 and closed at once. A connection counts until a request on it carries the token, so
      a busy honest sender is never capped, and a flood of wrong tokens or slow clients from one address
      cannot take every connection;
    * ``max_connections`` (uvicorn's ``limit_concurrency``, 503 past it) for requests without the token only:
      honest senders are served while strangers fill the connection table.
    """
    logs = logs or {}
    clients: dict[str, int] = {}  # open connections per address that have not shown the token

    def hit(name: str) -> None:
        if name in logs:
            logs[name].hit()

    class GuardedProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _deadline_at = 0.0
        _counted: str | None = None  # the address this connection counts against, until it shows the token
        _in_head = True  # reading a request's line and headers
        _head_bytes = 0
        _messages = 0
        _head_refused = False

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline_at = self.loop.time() + limits.request_timeout
                self._deadline = self.loop.call_at(self._deadline_at, self._expired)

        def _extend(self, seconds: float) -> None:
            if self._deadline is not None and seconds > 0:
                self._deadline.cancel()
                self._deadline_at += seconds
                self._deadline = self.loop.call_at(self._deadline_at, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            hit("timeouts")
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                self.transport.write(TIMEOUT_ANSWER)
            self.transport.close()

        def _uncount(self) -> None:
            if self._counted is not None:
                left = clients[self._counted] - 1
                if left:
                    clients[self._counted] = left
                else:
                    del clients[self._counted]
                self._counted = None

        def _refuse_head(self) -> None:
            hit("heads")
            if not self.transport.is_closing():
                self.transport.write(HEAD_TOO_LARGE)
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if limits.per_client:
                address = self.client[0] if self.client else ""
                if clients.get(address, 0) >= limits.per_client:
                    hit("per_client")
                    transport.write(BUSY_ANSWER)
                    transport.close()
                    return
                clients[address] = clients.get(address, 0) + 1
                self._counted = address
            self._arm()

        def data_received(self, data: bytes) -> None:
            if not self._in_head:
                return super().data_received(data)
            room = limits.max_head - self._head_bytes
            if len(data) <= room:
                self._head_bytes += len(data)
                return super().data_received(data)
            # The head would outgrow its limit in this chunk: feed what it may still take, and the rest only if
            # the head ended within that.
            self._head_bytes = limits.max_head
            messages = self._messages
            super().data_received(data[:room])
            if self.transport.is_closing():
                return None
            if self._in_head and self._messages == messages:
                return self._refuse_head()
            return super().data_received(data[room:])

        def send_400_response(self, msg: str) -> None:
            if self._head_refused:  # on_headers_complete stopped the parser: too many headers, not a bad request
                return self._refuse_head()
            return super().send_400_response(msg)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._in_head = False
            if len(self.headers) > limits.max_headers:
                self._head_refused = True
                raise OverflowError("too many headers")  # stops the parser: uvicorn's 400, made a 431 above
            if limits.token is not None:
                if authorized(limits.token, self.url.partition(b"?")[2], self.headers):
                    self._uncount()
                    self.limit_concurrency = None
                    # uvicorn types the scope with ASGI's keys only; this key is the receiver's own
                    cast(dict[str, Any], self.scope)[AUTHORIZED] = True  # the endpoint need not look again
                    declared = next((value for name, value in self.headers if name == b"content-length"), b"")
                    if declared.isdigit() and MIN_BODY_RATE < int(declared) < MAX_BODY * 2:
                        self._extend(int(declared) / MIN_BODY_RATE)
                else:
                    self.limit_concurrency = limits.max_connections
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._in_head, self._head_bytes = True, 0
            self._messages += 1
            super().on_message_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            self._uncount()
            super().connection_lost(exc)

    return GuardedProtocol


def server_options(limits: Limits, logs: dict[str, CountedLog] | None = None) -> dict:
    """uvicorn.run's settings for the receiver; bench/ runs its ceiling under the very same ones."""
    # log_config None: uvicorn's loggers go through ours (basicConfig), where CountFlooding can reach them.
    return {
        "http": protocol_class(limits, logs),
        "limit_concurrency": limits.max_connections,
        "timeout_keep_alive": 5,
        "access_log": False,
        "log_config": None,
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
    }


_second: list = [None, ""]


def received_at(now: float) -> str:
    """``now`` as ISO 8601 in UTC with microseconds, as datetime.isoformat() writes it, formatting each second
    once (at thousands of CDRs a second the formatting showed in the profile)."""
    whole = int(now)
    if _second[0] != whole:
        _second[0], _second[1] = whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - whole) * 1e6):06d}+00:00"


class ClientGone(Exception):
    """The sender closed the connection (or timed out) before its body was in: nothing to answer."""


class TooLarge(Exception):
    pass


class CdrEndpoint:
    """POST /voicenter/cdr as a plain ASGI app: one receive for a usual body, one await for the fsync."""

    def __init__(self, token: str, writer: SegmentWriter, cap: DailyCap, refused: CountedLog, max_body: int):
        self.token = token.encode()
        self.writer, self.cap, self.refused, self.max_body = writer, cap, refused, max_body

    async def read_body(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def __call__(self, scope, receive, send) -> None:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        fmt = detect(content_type, b"") if content_type else "json"
        if not (scope.get(AUTHORIZED) or authorized(self.token, scope.get("query_string") or b"", scope["headers"])):
            self.refused.hit()
            # A wrong token is answered late: a guesser or a flood then gets one try per connection per
            # REFUSED_DELAY instead of thousands a second, and honest senders keep the CPU. The connection is
            # then closed, so that it frees its place (a kept-alive one would hold it for the next guess).
            await asyncio.sleep(REFUSED_DELAY)
            return await self.reply(send, fmt, 401, 2, "unauthorized", close=True)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return await self.reply(send, fmt, 413, 1, f"body over {self.max_body} bytes", close=True)
        try:
            body = await self.read_body(receive)
        except TooLarge:
            return await self.reply(send, fmt, 413, 1, f"body over {self.max_body} bytes", close=True)
        except ClientGone:
            return None
        fmt = detect(content_type, body)
        now = time.time()
        try:
            line = staged_line(received_at(now), parse(fmt, body, content_type), body)
        except ParseError as exc:
            return await self.refuse(send, fmt, body, str(exc))
        except Exception as exc:
            log.error(
                "Voicenter: unexpected %s reading a %s body of %d bytes; quarantining it",
                type(exc).__name__,
                fmt,
                len(body),
            )
            return await self.refuse(send, fmt, body, f"{fmt} body unreadable: {type(exc).__name__}")
        del body  # only the line is kept while it waits for its sync
        try:
            await self.writer.append(line)
        except OSError:
            return await self.reply(send, fmt, 503, 2, "cannot store")
        return await self.reply(send, fmt, 200, 0, "OK")

    async def refuse(self, send, fmt: str, body: bytes, reason: str) -> None:
        def keep() -> bool:
            if not self.cap.take(len(body)):
                return False
            quarantine("voicenter", body, reason, {"format": fmt})
            return True

        try:
            kept = await asyncio.to_thread(keep)
        except OSError as exc:
            log.error("Voicenter: cannot quarantine a bad body (%s)", type(exc).__name__)
            return await self.reply(send, fmt, 503, 2, "cannot store")
        if not kept:
            log.error("Voicenter: the day's quarantine cap is reached; answering Err 2 so the sender retries")
            return await self.reply(send, fmt, 503, 2, "cannot store")
        return await self.reply(send, fmt, 400, 1, "parse error")

    @staticmethod
    async def reply(send, fmt: str, status: int, err: int, desc: str, close: bool = False) -> None:
        body, content_type = answer(fmt, err, desc)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


CDR_PATHS = ("/voicenter/cdr", "/voicenter/cdr/")


def create_app(
    token: str,
    *,
    max_body: int = MAX_BODY,
    quarantine_max_per_day: int = 10_000,
    quarantine_bytes_per_day: int = 256 * 1024 * 1024,
    log_interval: float = 60.0,
    refused: CountedLog | None = None,
    counters: Sequence[CountedLog | CountFlooding] = (),
):
    """The receiver's ASGI app. ``counters``: more CountedLogs to flush at shutdown (uvicorn re-raises the
    stopping signal after the lifespan ends, so nothing after uvicorn.run would run)."""
    writer = SegmentWriter(landing_folder(), log_interval=log_interval)
    cap = DailyCap("voicenter", quarantine_max_per_day, quarantine_bytes_per_day)
    refused = refused or CountedLog("Voicenter: refused %d POST(s) /voicenter/cdr without a valid token", log_interval)
    endpoint = CdrEndpoint(token, writer, cap, refused, max_body)

    async def healthz(request: Request) -> Response:
        # Ready or not, and nothing else: the answer is public, so no path, no figure about the disk.
        ok = await asyncio.to_thread(writer.ready)
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    @asynccontextmanager
    async def lifespan(app):
        await writer.start()
        yield
        await writer.stop()
        for counter in (refused, *counters):
            counter.flush()

    # No redirects: Starlette would answer `/voicenter/cdr/?token=...` with a 307 whose Location repeats the
    # token (over plain http:// behind a TLS proxy). That path is the CDR endpoint too; anything else is a 404.
    app = Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
    app.router.redirect_slashes = False

    async def receiver(scope, receive, send) -> None:
        # The CDR POST goes straight to its endpoint, past Starlette's router and middleware (it answers every
        # error itself); everything else (health, lifespan, 404, 405) through Starlette.
        if scope["type"] == "http" and scope["path"] in CDR_PATHS:
            if scope["method"] == "POST":
                return await endpoint(scope, receive, send)
            return await PlainTextResponse("Method Not Allowed", 405, {"allow": "POST"})(scope, receive, send)
        return await app(scope, receive, send)

    return receiver


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The fsync threads need the GIL for a moment before and after each sync; while the event loop is busy
    # parsing (XML-RPC above all) they would wait up to the default 5 ms switch interval for it, and every
    # sender in the batch with them.
    sys.setswitchinterval(0.0005)
    try:
        given = settings()
    except SettingsError as error:
        sys.exit(f"cdr-receiver: {error}")
    token = given.voicenter_token.get_secret_value() if given.voicenter_token else ""
    if not token:
        sys.exit("cdr-receiver: CDR_VOICENTER_TOKEN is not set; refusing to start without a token")
    if len(token) < MIN_TOKEN_CHARS:
        sys.exit(
            f"cdr-receiver: CDR_VOICENTER_TOKEN is shorter than {MIN_TOKEN_CHARS} characters; refusing to "
            "start with a guessable token (e.g. `openssl rand -hex 32`)"
        )
    host, port, interval = given.receiver_host, given.receiver_port, given.receiver_log_interval
    logs = {
        "timeouts": CountedLog("Voicenter: closed %d connection(s) whose request was not complete in time", interval),
        "heads": CountedLog(
            f"Voicenter: closed %d connection(s) whose request head was over {MAX_HEAD_BYTES} bytes or "
            f"{MAX_HEADERS} headers",
            interval,
        ),
        "per_client": CountedLog(
            "Voicenter: refused %d connection(s) from an address already holding "
            "CDR_RECEIVER_MAX_CONNECTIONS_PER_CLIENT without the token",
            interval,
        ),
    }
    flooding = CountFlooding(interval)
    logging.getLogger("uvicorn.error").addFilter(flooding)
    app = create_app(
        token,
        quarantine_max_per_day=given.receiver_quarantine_max_per_day,
        quarantine_bytes_per_day=int(given.receiver_quarantine_mb_per_day * 1024 * 1024),
        log_interval=interval,
        counters=[*logs.values(), flooding],
    )
    limits = Limits(
        request_timeout=given.receiver_request_timeout,
        max_connections=given.receiver_max_connections,
        per_client=given.receiver_max_connections_per_client,
        token=token.encode(),
    )
    log.info("cdr-receiver: listening on http://%s:%d/voicenter/cdr, staging in %s", host, port, landing_folder())
    uvicorn.run(app, host=host, port=port, **server_options(limits, logs))


if __name__ == "__main__":
    main()
