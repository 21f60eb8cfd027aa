"""The ceiling for bench/voicenter_receiver.py: a bare Starlette app, outside the product, that parses a Voicenter
body as the receiver does (orjson for JSON; xmlrpc.client behind defusedxml, which any receiver on the internet
needs, for XML-RPC; parse_qsl for a form) and answers Err 0 in the body's format without checking, storing or
syncing anything. It runs under the receiver's own uvicorn settings (cdr.sources.voicenter.receiver.server_options).

Run: .venv/bin/python bench/voicenter_ceiling.py --port 8090
"""

from __future__ import annotations

import argparse
import xmlrpc.client
from urllib.parse import parse_qsl

import defusedxml.xmlrpc
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdr.sources.voicenter.formats import answer
from cdr.sources.voicenter.receiver import DEFAULTS, Limits, server_options

defusedxml.xmlrpc.monkey_patch()


async def cdr(request: Request) -> Response:
    body = await request.body()
    kind = request.headers.get("content-type", "")
    if kind.startswith("text/xml"):
        fmt, _ = "xmlrpc", xmlrpc.client.loads(body.decode("utf-8"), use_builtin_types=True)
    elif kind.startswith("application/x-www-form-urlencoded"):
        fmt, _ = "form", dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    else:
        fmt, _ = "json", orjson.loads(body)
    text, content_type = answer(fmt, 0, "OK")
    return Response(text, media_type=content_type)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    print(f"ceiling: listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        Starlette(routes=[Route("/voicenter/cdr", cdr, methods=["POST"])]),
        host=args.host,
        port=args.port,
        **server_options(
            Limits(
                request_timeout=DEFAULTS["CDR_RECEIVER_REQUEST_TIMEOUT"],
                max_connections=int(DEFAULTS["CDR_RECEIVER_MAX_CONNECTIONS"]),
                per_client=int(DEFAULTS["CDR_RECEIVER_MAX_CONNECTIONS_PER_CLIENT"]),
            )
        ),
    )


if __name__ == "__main__":
    main()
