"""The three bodies Voicenter POSTs (JSON, XML-RPC, form), the line the receiver stages for each, and the answer in
each format.

Every body the receiver acknowledges is staged byte for byte as it arrived, beside the fields decoded from it
(``staged_line``): ``body``, the body as text where it is valid UTF-8, else ``body_base64``; ``cdr``, the decoded
fields as strict JSON. Decoding is lenient wherever a reading exists, since a CDR refused is a CDR lost
(cdr.sources.voicenter.bounds): JSON with a byte-order mark, in UTF-16/32, in the ``charset`` its Content-Type names,
with bytes that are not UTF-8 (read as U+FFFD), with NaN or Infinity, lone surrogates or numbers past what a
double holds; XML-RPC in the encoding its declaration names; a form in its ``charset``, with raw bytes, with
fields that lack an ``=``. Where the decoded fields are not exactly the body's strict JSON (anything but a plain
JSON body), the line says so (``exact`` false), so that the loader keeps the body in ``_raw`` beside them.

A value strict JSON cannot hold is written as text: NaN and the infinities as ``"NaN"``, ``"Infinity"``,
``"-Infinity"``; an integer past 64 bits as its digits; XML-RPC's base64 and dateTime as their text. Where that
changed the value, the body beside it still holds it as sent.

A parse error's message names the format, the parser's error type and, where it has one, the position, never
text from the body: it goes into a quarantine note and a log line.
"""

from __future__ import annotations

import base64
import codecs
import json
import math
import re
import xmlrpc.client
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

import defusedxml.xmlrpc
import orjson

from cdr.sources.voicenter.bounds import MAX_FORM_FIELDS, OutOfBounds, check
from cdr.values import INT64_MIN

# Entity expansion, external entities and DTDs refused; gzip bombs capped (defusedxml).
defusedxml.xmlrpc.monkey_patch()

FORMATS = ("json", "xmlrpc", "form")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose mark it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_UINT64_MAX = 2**64 - 1
_HUGE_FLOAT = float(2**63)
_LONG_NUMBER = re.compile(rb"[:\[,]\s*-?[0-9]{19}")
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class ParseError(ValueError):
    """The body is not a CDR: answered with Err 1, kept in quarantine."""


class Decoded(NamedTuple):
    cdr: dict[str, Any]
    exact: bool  # the fields are the body's own strict JSON, value for value
    fmt: str  # the format the body was read in


def charset_of(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type, if it names a codec Python has."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                return None
    return None


def _first_char(body: bytes) -> str:
    head = body[:64]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head.decode(codec, "ignore").lstrip()[:1]
    return head.lstrip()[:1].decode("latin-1")


def detect(content_type: str, body: bytes) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("application/json", "text/json"):
        return "json"
    if kind in ("text/xml", "application/xml"):
        return "xmlrpc"
    if kind == "application/x-www-form-urlencoded":
        return "form"
    return {"{": "json", "<": "xmlrpc"}.get(_first_char(body), "form")


def _where(exc: BaseException) -> str:
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None) or getattr(exc, "offset", None)
    return f" at line {line} column {column}" if isinstance(line, int) and isinstance(column, int) else ""


def _text(body: bytes, charset: str | None) -> str:
    """A JSON body as text: by its byte-order mark (or UTF-16/32 zero bytes), else the Content-Type's charset,
    else UTF-8; bytes the codec cannot read become U+FFFD (the body itself is kept as sent)."""
    codec = json.detect_encoding(body)
    if codec == "utf-8" and charset:
        codec = charset
    return body.decode(codec, "replace")


def _finite(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else text


def _inexact(value: Any) -> bool:
    """Whether a value orjson read holds a float of 2**63 or more: orjson reads an integer past 64 bits as the
    nearest double, which is not the number sent (a 30-digit price). Walked only for a body with a run of 19
    digits or more after a ``:``, ``[`` or ``,`` (``_LONG_NUMBER``), where such an integer can be."""
    stack = [value]
    while stack:
        node = stack.pop()
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is float:
                if abs(child) >= _HUGE_FLOAT:
                    return True
            elif kind is dict or kind is list:
                stack.append(child)
    return False


def _json(body: bytes, charset: str | None) -> tuple[Any, bool]:
    try:
        value = orjson.loads(body)
        if type(value) is not dict or not _LONG_NUMBER.search(body) or not _inexact(value):
            return value, True
    except orjson.JSONDecodeError:
        pass
    # Not strict UTF-8 JSON, or an integer past 64 bits: read it as Python's json module reads it, which takes
    # NaN and Infinity, lone surrogates, any number and any depth (a body deeper than bounds.MAX_DEPTH is
    # refused after).
    value = json.loads(
        _text(body, charset),
        parse_constant=str,
        parse_float=_finite,
        parse_int=lambda digits: int(digits) if len(digits) <= 21 else digits,
    )
    return value, False


def _xmlrpc(body: bytes) -> Any:
    # Bytes, not text: the XML parser reads them in the encoding the declaration names (UTF-8 without one).
    params, _method = xmlrpc.client.loads(body, use_builtin_types=False)
    return params[0] if params else None


def _form(body: bytes, charset: str | None) -> dict[str, str]:
    # Raw bytes past ASCII are read as if percent-encoded, so that they decode in the same charset as %XX.
    text = _HIGH_BYTE.sub(lambda byte: b"%%%02X" % byte[0][0], body).decode("ascii")
    pairs = parse_qsl(
        text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, encoding=charset or "utf-8", errors="replace"
    )
    return dict(pairs)


def plain(value: Any) -> Any:
    """``value`` as strict JSON can hold it (see the module's docstring). Called on checked CDRs only, whose depth
    bounds.MAX_DEPTH limits."""
    kind = type(value)
    if kind is str:
        return _SURROGATE.sub("\ufffd", value)
    if kind is dict:
        return {plain(key) if type(key) is str else str(key): plain(item) for key, item in value.items()}
    if kind is list:
        return [plain(item) for item in value]
    if kind is int:
        return value if INT64_MIN <= value <= _UINT64_MAX else str(value)
    if kind is float:
        return value if math.isfinite(value) else _NON_FINITE[repr(value)]
    if value is None or kind is bool:
        return value
    if isinstance(value, xmlrpc.client.Binary):
        return base64.b64encode(value.data).decode("ascii")
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value
    return str(value)


def _parse(fmt: str, body: bytes, charset: str | None) -> Decoded:
    try:
        if fmt == "json":
            cdr, exact = _json(body, charset)
        elif fmt == "xmlrpc":
            cdr, exact = _xmlrpc(body), False
        else:
            cdr, exact = _form(body, charset), False
    except Exception as exc:
        raise ParseError(f"{fmt} body unreadable: {type(exc).__name__}{_where(exc)}") from exc
    try:
        check(cdr)
    except OutOfBounds as exc:
        raise ParseError(f"{fmt} body is not a CDR: {exc}") from exc
    return Decoded(cdr if exact or fmt == "form" else plain(cdr), exact, fmt)


def parse(fmt: str, body: bytes, content_type: str = "") -> Decoded:
    """The CDR in ``body``, checked against cdr.sources.voicenter.bounds; ParseError if it is not one. A body its
    Content-Type mislabels (JSON sent as a form, say) is read as what it looks like before it is refused."""
    charset = charset_of(content_type)
    try:
        return _parse(fmt, body, charset)
    except ParseError:
        looks = detect("", body)
        if looks == fmt:
            raise
        try:
            return _parse(looks, body, charset)
        except ParseError:
            pass
        raise


def staged_line(received_at: str, decoded: Decoded, body: bytes) -> bytes:
    """One line of a staging segment: when, in which format, the decoded fields and the body as it arrived."""
    line: dict[str, Any] = {"received_at": received_at, "format": decoded.fmt, "cdr": decoded.cdr}
    if not decoded.exact:
        line["exact"] = False
    try:
        line["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        line["body_base64"] = base64.b64encode(body).decode("ascii")
    return orjson.dumps(line) + b"\n"


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
