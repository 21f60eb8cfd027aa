"""The three bodies Voicenter POSTs (JSON, XML-RPC, form) and the answer in each format."""

from __future__ import annotations

import json
import xmlrpc.client
from typing import Any
from urllib.parse import parse_qsl, urlencode

import defusedxml.xmlrpc

# Entity expansion, external entities and DTDs refused; gzip bombs capped (defusedxml).
defusedxml.xmlrpc.monkey_patch()


class ParseError(ValueError):
    """The body cannot be read as a CDR: answered with Err 1, kept in quarantine."""


def detect(content_type: str, body: bytes) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/json", "text/json"):
        return "json"
    if kind in ("text/xml", "application/xml"):
        return "xmlrpc"
    if kind == "application/x-www-form-urlencoded":
        return "form"
    start = body.lstrip()[:1]
    return {b"{": "json", b"<": "xmlrpc"}.get(start, "form")


def parse(fmt: str, body: bytes) -> dict[str, Any]:
    try:
        if fmt == "json":
            cdr = json.loads(body.decode("utf-8"))
        elif fmt == "xmlrpc":
            params, _method = xmlrpc.client.loads(body.decode("utf-8"), use_builtin_types=True)
            cdr = params[0] if params else None
        else:
            cdr = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - every parser failure (expat, defusedxml, json, unicode) is Err 1
        raise ParseError(f"{fmt} body unreadable: {type(exc).__name__}: {exc}") from exc
    if not isinstance(cdr, dict) or not cdr:
        raise ParseError(f"{fmt} body holds no CDR object")
    if not str(cdr.get("ivruniqueid") or "").strip():
        raise ParseError(f"{fmt} CDR has no ivruniqueid")
    return cdr


def answer(fmt: str, err: int, desc: str) -> tuple[bytes, str]:
    """(body, content type) of Voicenter's acknowledgement in the request's format."""
    if fmt == "xmlrpc":
        body = xmlrpc.client.dumps(({"Err": err, "Errdesc": desc},), methodresponse=True, encoding="utf-8")
        return body.encode(), "text/xml; charset=utf-8"
    if fmt == "form":
        return urlencode({"Err": err, "Errdesc": desc}).encode(), "application/x-www-form-urlencoded"
    return json.dumps({"Err": err, "Errdesc": desc}).encode(), "application/json"
