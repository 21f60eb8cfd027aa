"""`cdr-receiver`: the web service Voicenter POSTs each CDR to (see CONTRACT.md, Voicenter receiver).

It answers Err 0 only once the CDR is durably staged (cdr.voicenter.staging), Err 1 (HTTP 400) for a body
that is not a CDR (kept in quarantine), Err 2 (HTTP 503) when it cannot store, so that Voicenter sends again.
The token (query `token` or `Authorization: Bearer`) never reaches a log: uvicorn's access log is off and
ours names only the path.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sys
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdr import config
from cdr.quarantine import quarantine
from cdr.voicenter.formats import ParseError, answer, detect, parse
from cdr.voicenter.staging import SegmentWriter

log = logging.getLogger("cdr.voicenter.receiver")

DEFAULT_MAX_BODY = 256 * 1024


def landing_folder():
    return config.landing_dir() / "voicenter"


def create_app(token: str, *, max_body: int = DEFAULT_MAX_BODY, store: bool = True) -> Starlette:
    """``store=False`` answers without staging anything: the benchmark's baseline, never for production."""
    writer = SegmentWriter(landing_folder())

    def reply(fmt: str, status: int, err: int, desc: str) -> Response:
        body, content_type = answer(fmt, err, desc)
        return Response(body, status_code=status, media_type=content_type)

    def authorized(request: Request) -> bool:
        given = request.query_params.get("token") or ""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = given or header[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    async def cdr(request: Request) -> Response:
        declared = request.headers.get("content-length")
        fmt = detect(request.headers.get("content-type", ""), b"")
        if declared and declared.isdigit() and int(declared) > max_body:
            return reply(fmt, 413, 1, f"body over {max_body} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return reply(fmt, 413, 1, f"body over {max_body} bytes")
        fmt = detect(request.headers.get("content-type", ""), body)
        if not authorized(request):
            log.warning("Voicenter: refused a POST /voicenter/cdr without a valid token from %s",
                        request.client.host if request.client else "?")
            return reply(fmt, 401, 2, "unauthorized")
        try:
            record = parse(fmt, body)
        except ParseError as exc:
            try:
                await asyncio.to_thread(quarantine, "voicenter", body, str(exc), {"format": fmt})
            except OSError as store_exc:
                log.error("Voicenter: cannot quarantine a bad body (%s)", store_exc)
                return reply(fmt, 503, 2, "cannot store")
            return reply(fmt, 400, 1, "parse error")
        if store:
            line = json.dumps({"received_at": datetime.now(timezone.utc).isoformat(), "format": fmt, "cdr": record},
                              ensure_ascii=False, separators=(",", ":"), default=str).encode() + b"\n"
            try:
                await writer.append(line)
            except OSError:
                return reply(fmt, 503, 2, "cannot store")
        return reply(fmt, 200, 0, "OK")

    async def healthz(request: Request) -> Response:
        ok = (not store) or await asyncio.to_thread(writer.writable)
        return JSONResponse({"ok": ok, "landing": str(landing_folder())}, status_code=200 if ok else 503)

    @asynccontextmanager
    async def lifespan(app):
        if store:
            await writer.start()
        yield
        if store:
            await writer.stop()

    return Starlette(routes=[Route("/voicenter/cdr", cdr, methods=["POST"]), Route("/healthz", healthz)],
                     lifespan=lifespan)


def main() -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("CDR_VOICENTER_TOKEN", "")
    if not token:
        sys.exit("cdr-receiver: CDR_VOICENTER_TOKEN is not set; refusing to start without a token")
    host = os.environ.get("CDR_RECEIVER_HOST", "127.0.0.1")
    port = int(os.environ.get("CDR_RECEIVER_PORT", "8088"))
    store = os.environ.get("CDR_RECEIVER_STORE", "1") != "0"
    log.info("cdr-receiver: listening on http://%s:%d/voicenter/cdr, staging in %s%s", host, port, landing_folder(),
             "" if store else " (STORAGE OFF: benchmark baseline)")
    uvicorn.run(create_app(token, store=store), host=host, port=port, access_log=False, log_level="info",
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
