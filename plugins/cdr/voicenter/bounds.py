"""What a Voicenter CDR can hold: the one place its bounds live (vendor doc: "CDR Notification System API").

The receiver checks a parsed body against them before it answers (a body outside them is not a CDR: Err 1, kept
in quarantine), and the loader checks every staged line again (a line outside them is quarantined, the rest of the
segment loads). So no value that reaches the lake can fail a conversion downstream: a time that is a date,
durations and waits a timestamp can add, a price that fits int64.

A CDR is a flat object of scalars, except ``IVR``: a list of flat objects (or, in a form, a JSON string of one).
Anything nested deeper, any non-finite number, any integer outside int64 is refused wherever it sits.

Messages name the field and the bound, never the value: a quarantine note or a log line never carries the body.
"""

from __future__ import annotations

import math
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Epoch seconds. Voicenter began long after 2000; a CDR is sent after its call ended, so a time more than a
# day past the receiver's clock (skew allowed for) is not a call.
EARLIEST_TIME = 946_684_800  # 2000-01-01T00:00:00Z
FUTURE_SLACK = 86_400
# duration, dialtime, seconds_waiting_in_queue: whole seconds of one call, never negative; a week is far past
# any real call (a conference included) and far inside what a timestamp plus an interval can hold.
MAX_SECONDS = 7 * 86_400
ID_FIELDS = ("ivruniqueid", "OriginalIvrUniqueID")
MAX_ID_CHARS = 128
TIME_FIELD = "time"
SECONDS_FIELDS = ("duration", "dialtime", "seconds_waiting_in_queue")
INT64_FIELDS = ("price",)
IVR_FIELD = "IVR"
MAX_TEXT_CHARS = 8_192  # a name, a number, a recording URL
MAX_IVR_TEXT_CHARS = 65_536  # IVR as a JSON string (form bodies)
MAX_FIELDS = 200
MAX_KEY_CHARS = 128
MAX_IVR_LAYERS = 1_000
# CDR object (1) > IVR list (2) > layer object (3) > scalars.
MAX_DEPTH = 3
SCALARS = (str, int, float, bool, type(None))


class OutOfBounds(ValueError):
    """The value cannot be part of a CDR; the message names the field, never the value."""


def _number(value: Any) -> int | float | None:
    """The number a field holds (JSON/XML-RPC number, or a form's decimal string); None if it holds none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in ("-", "+") else text
        if digits.isascii() and digits.isdigit():
            # More digits than int64 has: out of every bound here, without int() on a huge string.
            return int(text) if len(digits) <= 20 else (INT64_MIN - 1 if text[0] == "-" else INT64_MAX + 1)
    return None


def _range(cdr: dict, field: str, low: float, high: float) -> None:
    number = _number(cdr.get(field))
    if number is not None and not (low <= number <= high):
        raise OutOfBounds(f"{field} outside [{low}, {high}]")


def _walk(value: Any, where: str, depth: int) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS and where != IVR_FIELD:
            raise OutOfBounds(f"{where}: text longer than {MAX_TEXT_CHARS} characters")
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise OutOfBounds(f"{where}: integer outside int64")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OutOfBounds(f"{where}: NaN or Infinity")
        return
    if isinstance(value, (list, dict)):
        if depth >= MAX_DEPTH:
            raise OutOfBounds(f"{where}: nested deeper than a CDR ({MAX_DEPTH} levels)")
        if isinstance(value, list):
            if len(value) > MAX_IVR_LAYERS:
                raise OutOfBounds(f"{where}: more than {MAX_IVR_LAYERS} items")
            for item in value:
                _walk(item, where, depth + 1)
        else:
            if len(value) > MAX_FIELDS:
                raise OutOfBounds(f"{where}: more than {MAX_FIELDS} fields")
            for key, item in value.items():
                if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
                    raise OutOfBounds(f"{where}: a field name that is not a short string")
                _walk(item, where, depth + 1)
        return
    # bytes (XML-RPC base64), datetime (dateTime.iso8601): Voicenter sends neither.
    raise OutOfBounds(f"{where}: a {type(value).__name__}, which a CDR never holds")


def check(cdr: Any, now: float) -> dict:
    """Return ``cdr`` if it is within every bound, else raise OutOfBounds. ``now``: epoch seconds of receipt."""
    if not isinstance(cdr, dict) or not cdr:
        raise OutOfBounds("the body holds no CDR object")
    if len(cdr) > MAX_FIELDS:
        raise OutOfBounds(f"more than {MAX_FIELDS} fields")
    for key, value in cdr.items():
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
            raise OutOfBounds("a field name that is not a short string")
        if type(value) is str:  # the common case, kept cheap
            if len(value) > MAX_TEXT_CHARS and not (key == IVR_FIELD and len(value) <= MAX_IVR_TEXT_CHARS):
                raise OutOfBounds(f"{key}: text longer than {MAX_TEXT_CHARS} characters")
        elif type(value) is int:
            if not INT64_MIN <= value <= INT64_MAX:
                raise OutOfBounds(f"{key}: integer outside int64")
        elif key == IVR_FIELD and isinstance(value, list):
            _walk(value, key, 1)
        elif isinstance(value, (list, dict)):
            raise OutOfBounds(f"{key}: an object or list where a CDR has a single value")
        else:
            _walk(value, key, 1)
    ident = cdr.get("ivruniqueid")
    if not isinstance(ident, str) or not ident.strip():
        raise OutOfBounds("ivruniqueid missing or not a string")
    for field in ID_FIELDS:
        value = cdr.get(field)
        if value is None or (field != "ivruniqueid" and value == ""):
            continue
        if not isinstance(value, str) or len(value) > MAX_ID_CHARS or not value.isprintable():
            raise OutOfBounds(f"{field} is not a short printable string (at most {MAX_ID_CHARS} characters)")
    _range(cdr, TIME_FIELD, EARLIEST_TIME, now + FUTURE_SLACK)
    for field in SECONDS_FIELDS:
        _range(cdr, field, 0, MAX_SECONDS)
    for field in INT64_FIELDS:
        _range(cdr, field, INT64_MIN, INT64_MAX)
    return cdr
