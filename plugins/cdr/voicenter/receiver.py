"""`cdr-receiver`: the web service Voicenter POSTs each CDR to (docs/contract.md, Voicenter receiver).

Every request ends in one of five answers, never a 500 for anything a sender can put in a body:
Err 0 (HTTP 200) only once the CDR is durably staged (cdr.voicenter.staging, fsynced); Err 1 (HTTP 400) for a
body that is not a CDR (cdr.voicenter.bounds), kept in quarantine byte for byte; Err 2 (HTTP 503) when it
cannot store (the disk, or the day's quarantine cap), so that Voicenter sends again; 401 without the token,
checked before the body is read; 413 over the size cap.

Limits against hostile or broken senders: a request must be complete within ``CDR_RECEIVER_REQUEST_TIMEOUT``
seconds from its connection (or its first byte on a kept-alive one), else 408 and the connection is closed;
at most ``CDR_RECEIVER_MAX_CONNECTIONS`` connections, past which uvicorn answers 503; the token must be at
least 32 characters or the receiver does not start; refused tokens and timed-out requests are logged as one
line per interval with a count, and a 401 is sent only after a second.

The token (query `token` or `Authorization: Bearer`) and the body never reach a log or a note: uvicorn's access
log is off, ours names only the path, the reason and the size.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sys
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cdr.quarantine import DailyCap, quarantine
from cdr.voicenter.formats import ParseError, answer, detect, parse
from cdr.voicenter.staging import SegmentWriter, landing_folder

log = logging.getLogger("cdr.voicenter.receiver")

DEFAULT_MAX_BODY = 256 * 1024
MIN_TOKEN_CHARS = 32
REFUSED_DELAY = 1.0  # seconds before a 401
DEFAULTS = {
    "CDR_RECEIVER_REQUEST_TIMEOUT": 5.0,  # seconds for a whole request, headers and body
    "CDR_RECEIVER_MAX_CONNECTIONS": 256,
    "CDR_RECEIVER_QUARANTINE_MAX_PER_DAY": 10_000,  # bodies
    "CDR_RECEIVER_QUARANTINE_MB_PER_DAY": 256,
    "CDR_RECEIVER_LOG_INTERVAL": 60.0,  # seconds between two lines counting refused tokens or timeouts
}


def setting(name: str) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return DEFAULTS[name]
    try:
        value = float(raw)
    except ValueError:
        sys.exit(f"cdr-receiver: {name} must be a number")
    if value <= 0:
        sys.exit(f"cdr-receiver: {name} must be positive")
    return value


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


def protocol_class(request_timeout: float, timeouts: CountedLog | None = None) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a deadline on each request: from the connection (or the first byte of a
    later request on it) to its last body byte. uvicorn itself times out only idle kept-alive connections, so a
    client that sends half a request would otherwise hold its connection forever."""

    timeout_answer = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(request_timeout, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if timeouts is not None:
                timeouts.hit()
            if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
                self.transport.write(timeout_answer)
            self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineProtocol


def server_options(request_timeout: float, max_connections: int, timeouts: CountedLog | None = None) -> dict:
    """uvicorn.run's settings for the receiver; bench/ runs its ceiling under the very same ones."""
    # log_config None: uvicorn's loggers go through ours (basicConfig), where CountFlooding can reach them.
    return {
        "http": protocol_class(request_timeout, timeouts),
        "limit_concurrency": max_connections,
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

    def authorized(self, scope, headers: dict[bytes, bytes]) -> bool:
        given = b""
        query = scope.get("query_string") or b""
        if query[:6] == b"token=" and b"&" not in query and b"%" not in query and b"+" not in query:
            given = query[6:]  # the usual `?token=...`, read without a parse
        elif b"token=" in query:
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key == "token":
                    given = value.encode("latin-1", "replace")
                    break
        if not given:
            header = headers.get(b"authorization", b"")
            if header[:7].lower() == b"bearer ":
                given = header[7:].strip()
        return bool(given) and hmac.compare_digest(given, self.token)

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
        if not self.authorized(scope, headers):
            self.refused.hit()
            # A wrong token is answered late: a guesser or a flood then gets one try per connection per
            # REFUSED_DELAY instead of thousands a second, and honest senders keep the CPU.
            await asyncio.sleep(REFUSED_DELAY)
            return await self.reply(send, fmt, 401, 2, "unauthorized")
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            return await self.reply(send, fmt, 413, 1, f"body over {self.max_body} bytes")
        try:
            body = await self.read_body(receive)
        except TooLarge:
            return await self.reply(send, fmt, 413, 1, f"body over {self.max_body} bytes")
        except ClientGone:
            return None
        fmt = detect(content_type, body)
        now = time.time()
        try:
            record = parse(fmt, body, now)
            line = orjson.dumps({"received_at": received_at(now), "format": fmt, "cdr": record}) + b"\n"
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
    async def reply(send, fmt: str, status: int, err: int, desc: str) -> None:
        body, content_type = answer(fmt, err, desc)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(
    token: str,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    quarantine_max_per_day: int = 10_000,
    quarantine_bytes_per_day: int = 256 * 1024 * 1024,
    log_interval: float = 60.0,
    refused: CountedLog | None = None,
    counters: list = (),
):
    """The receiver's ASGI app. ``counters``: more CountedLogs to flush at shutdown (uvicorn re-raises the
    stopping signal after the lifespan ends, so nothing after uvicorn.run would run)."""
    writer = SegmentWriter(landing_folder())
    cap = DailyCap("voicenter", quarantine_max_per_day, quarantine_bytes_per_day)
    refused = refused or CountedLog("Voicenter: refused %d POST(s) /voicenter/cdr without a valid token", log_interval)
    endpoint = CdrEndpoint(token, writer, cap, refused, max_body)

    async def healthz(request: Request) -> Response:
        ok = await asyncio.to_thread(writer.writable)
        return JSONResponse({"ok": ok, "landing": str(landing_folder())}, status_code=200 if ok else 503)

    @asynccontextmanager
    async def lifespan(app):
        await writer.start()
        yield
        await writer.stop()
        for counter in (refused, *counters):
            counter.flush()

    app = Starlette(
        routes=[Route("/voicenter/cdr", endpoint, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan
    )

    async def receiver(scope, receive, send) -> None:
        # The CDR POST goes straight to its endpoint, past Starlette's router and middleware (it answers every
        # error itself); everything else (health, lifespan, 404, 405) through Starlette.
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/voicenter/cdr":
            return await endpoint(scope, receive, send)
        return await app(scope, receive, send)

    return receiver


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The fsync threads need the GIL for a moment before and after each sync; while the event loop is busy
    # parsing (XML-RPC above all) they would wait up to the default 5 ms switch interval for it, and every
    # sender in the batch with them.
    sys.setswitchinterval(0.0005)
    token = os.environ.get("CDR_VOICENTER_TOKEN", "")
    if not token:
        sys.exit("cdr-receiver: CDR_VOICENTER_TOKEN is not set; refusing to start without a token")
    if len(token) < MIN_TOKEN_CHARS:
        sys.exit(
            f"cdr-receiver: CDR_VOICENTER_TOKEN is shorter than {MIN_TOKEN_CHARS} characters; refusing to "
            "start with a guessable token (e.g. `openssl rand -hex 32`)"
        )
    host = os.environ.get("CDR_RECEIVER_HOST", "127.0.0.1")
    port = int(os.environ.get("CDR_RECEIVER_PORT", "8088"))
    interval = setting("CDR_RECEIVER_LOG_INTERVAL")
    timeouts = CountedLog("Voicenter: closed %d connection(s) whose request was not complete in time", interval)
    flooding = CountFlooding(interval)
    logging.getLogger("uvicorn.error").addFilter(flooding)
    app = create_app(
        token,
        quarantine_max_per_day=int(setting("CDR_RECEIVER_QUARANTINE_MAX_PER_DAY")),
        quarantine_bytes_per_day=int(setting("CDR_RECEIVER_QUARANTINE_MB_PER_DAY") * 1024 * 1024),
        log_interval=interval,
        counters=[timeouts, flooding],
    )
    log.info("cdr-receiver: listening on http://%s:%d/voicenter/cdr, staging in %s", host, port, landing_folder())
    uvicorn.run(
        app,
        host=host,
        port=port,
        **server_options(
            setting("CDR_RECEIVER_REQUEST_TIMEOUT"), int(setting("CDR_RECEIVER_MAX_CONNECTIONS")), timeouts
        ),
    )


if __name__ == "__main__":
    main()
