"""The three bodies Voicenter POSTs (JSON, XML-RPC, form) and the answer in each format.

A parse error's message names the format, the parser's error type and, where it has one, the position, never
text from the body: it goes into a quarantine note and a log line.
"""

from __future__ import annotations

import json
import xmlrpc.client
from typing import Any
from urllib.parse import parse_qsl, urlencode

import defusedxml.xmlrpc
import orjson

from cdr.voicenter.bounds import MAX_FIELDS, OutOfBounds, check

# Entity expansion, external entities and DTDs refused; gzip bombs capped (defusedxml).
defusedxml.xmlrpc.monkey_patch()

FORMATS = ("json", "xmlrpc", "form")


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


def _where(exc: BaseException) -> str:
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None) or getattr(exc, "offset", None)
    return f" at line {line} column {column}" if isinstance(line, int) and isinstance(column, int) else ""


def parse(fmt: str, body: bytes, now: float) -> dict[str, Any]:
    """The CDR in ``body``, checked against cdr.voicenter.bounds (``now``: epoch seconds of receipt)."""
    try:
        if fmt == "json":
            # orjson refuses what is not JSON that stdlib json lets through: NaN, Infinity, lone surrogates
            # (which could not be written back as UTF-8), nesting past 1024.
            cdr = orjson.loads(body)
        elif fmt == "xmlrpc":
            params, _method = xmlrpc.client.loads(body.decode("utf-8"), use_builtin_types=True)
            cdr = params[0] if params else None
        else:
            cdr = dict(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=MAX_FIELDS)
            )
    except Exception as exc:
        raise ParseError(f"{fmt} body unreadable: {type(exc).__name__}{_where(exc)}") from exc
    try:
        return check(cdr, now)
    except OutOfBounds as exc:
        raise ParseError(f"{fmt} body is not a CDR: {exc}") from exc


def _answer(fmt: str, err: int, desc: str) -> tuple[bytes, str]:
    if fmt == "xmlrpc":
        body = xmlrpc.client.dumps(({"Err": err, "Errdesc": desc},), methodresponse=True, encoding="utf-8")
        return body.encode(), "text/xml; charset=utf-8"
    if fmt == "form":
        return urlencode({"Err": err, "Errdesc": desc}).encode(), "application/x-www-form-urlencoded"
    return json.dumps({"Err": err, "Errdesc": desc}).encode(), "application/json"


_ANSWERS: dict[tuple[str, int, str], tuple[bytes, str]] = {}


def answer(fmt: str, err: int, desc: str) -> tuple[bytes, str]:
    """(body, content type) of Voicenter's acknowledgement in the request's format."""
    key = (fmt, err, desc)
    cached = _ANSWERS.get(key)
    if cached is None:
        cached = _ANSWERS[key] = _answer(fmt, err, desc)
    return cached
