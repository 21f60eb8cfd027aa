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
RANGES = tuple((field, 0, MAX_SECONDS) for field in SECONDS_FIELDS) + tuple(
    (field, INT64_MIN, INT64_MAX) for field in INT64_FIELDS
)
IVR_FIELD = "IVR"
MAX_TEXT_CHARS = 8_192  # a name, a number, a recording URL
MAX_IVR_TEXT_CHARS = 65_536  # IVR as a JSON string (form bodies)
MAX_FIELDS = 200
MAX_KEY_CHARS = 128
MAX_IVR_LAYERS = 1_000
# CDR object (1) > IVR list (2) > layer object (3) > scalars.
MAX_DEPTH = 3


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


def _scalar(value: Any, where: str, max_chars: int) -> None:
    """A value that must be a scalar: text up to ``max_chars``, an int64, a finite float, a bool or null."""
    kind = type(value)
    if kind is str:
        if len(value) > max_chars:
            raise OutOfBounds(f"{where}: text longer than {max_chars} characters")
    elif kind is int:
        if value > INT64_MAX or value < INT64_MIN:
            raise OutOfBounds(f"{where}: integer outside int64")
    elif kind is float:
        if not math.isfinite(value):
            raise OutOfBounds(f"{where}: NaN or Infinity")
    elif value is None or kind is bool:
        pass
    elif kind is list or kind is dict:
        raise OutOfBounds(f"{where}: nested deeper than a CDR ({MAX_DEPTH} levels)")
    else:
        # bytes (XML-RPC base64), datetime (dateTime.iso8601): Voicenter sends neither.
        raise OutOfBounds(f"{where}: a {kind.__name__}, which a CDR never holds")


def _fields(record: dict, where: str) -> None:
    if len(record) > MAX_FIELDS:
        raise OutOfBounds(f"{where}: more than {MAX_FIELDS} fields")
    for key in record:
        if type(key) is not str or len(key) > MAX_KEY_CHARS:
            raise OutOfBounds(f"{where}: a field name that is not a short string")


def _ivr(layers: list) -> None:
    """IVR: a list of flat objects (CDR > list > layer > scalars)."""
    if len(layers) > MAX_IVR_LAYERS:
        raise OutOfBounds(f"{IVR_FIELD}: more than {MAX_IVR_LAYERS} layers")
    for layer in layers:
        if type(layer) is dict:
            _fields(layer, IVR_FIELD)
            for value in layer.values():
                _scalar(value, IVR_FIELD, MAX_TEXT_CHARS)
        else:
            _scalar(layer, IVR_FIELD, MAX_TEXT_CHARS)


def check(cdr: Any, now: float) -> dict:
    """Return ``cdr`` if it is within every bound, else raise OutOfBounds. ``now``: epoch seconds of receipt."""
    if type(cdr) is not dict or not cdr:
        raise OutOfBounds("the body holds no CDR object")
    if len(cdr) > MAX_FIELDS:
        raise OutOfBounds(f"CDR: more than {MAX_FIELDS} fields")
    for key, value in cdr.items():
        if type(key) is not str or len(key) > MAX_KEY_CHARS:
            raise OutOfBounds("CDR: a field name that is not a short string")
        kind = type(value)
        if kind is str:  # the common cases first, kept cheap
            if len(value) > MAX_TEXT_CHARS and not (key == IVR_FIELD and len(value) <= MAX_IVR_TEXT_CHARS):
                raise OutOfBounds(f"{key}: text longer than {MAX_TEXT_CHARS} characters")
        elif kind is int:
            if value > INT64_MAX or value < INT64_MIN:
                raise OutOfBounds(f"{key}: integer outside int64")
        elif kind is list and key == IVR_FIELD:
            _ivr(value)
        elif kind is list or kind is dict:
            raise OutOfBounds(f"{key}: an object or list where a CDR has a single value")
        else:
            _scalar(value, key, MAX_TEXT_CHARS)
    ident = cdr.get("ivruniqueid")
    if type(ident) is not str or not ident.strip():
        raise OutOfBounds("ivruniqueid missing or not a string")
    for field in ID_FIELDS:
        value = cdr.get(field)
        if value is None or (value == "" and field != "ivruniqueid"):
            continue
        if type(value) is not str or len(value) > MAX_ID_CHARS or not value.isprintable():
            raise OutOfBounds(f"{field} is not a short printable string (at most {MAX_ID_CHARS} characters)")
    for field, low, high in ((TIME_FIELD, EARLIEST_TIME, now + FUTURE_SLACK), *RANGES):
        value = cdr.get(field)
        if value is not None:
            number = value if type(value) is int else _number(value)
            if number is not None and not (low <= number <= high):
                raise OutOfBounds(f"{field} outside [{low}, {high}]")
    return cdr
