"""Reading source values leniently into typed lake columns; the exact value always stays in ``_raw``."""

from __future__ import annotations

import json
import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any


class BadRecord(ValueError):
    """A record that cannot be read as a CDR: it goes to quarantine, not to the lake."""


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A decimal as sources write numbers: optional sign, digits, optional fraction. 40 characters bound the work on
# a hostile string (int64 has 19 digits); isascii: int() and Decimal() take other scripts' digits too.
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?|[+-]?\.[0-9]+")
_MAX_DECIMAL_CHARS = 40
_ONE = Decimal(1)
_ROUNDING = Context(prec=2 * _MAX_DECIMAL_CHARS, rounding=ROUND_HALF_UP)  # room for every digit allowed


def as_int(value: Any) -> int | None:
    """Numbers, or numeric strings, that fit the lake's int64; anything else is left to ``_raw``.

    A fraction is rounded half away from zero (12.5 s -> 13, -12.5 -> -13, "7.49" -> 7): a source that sends
    ``duration: 12.5`` meant a duration, not a missing one, and half away from zero is the rule people round
    seconds and money by (Python's round() would give 12, to even). A float is rounded from its exact binary
    value. NaN, infinities, booleans and text that is not a plain decimal (``1e3``, ``0x10``, ``12 s``) give
    None, as does anything outside int64."""
    if value is None or isinstance(value, bool):
        return None
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if value.is_integer():
            number = int(value)
        elif math.isfinite(value):
            number = int(Decimal(value).quantize(_ONE, context=_ROUNDING))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_DECIMAL_CHARS and text.isascii() and _DECIMAL.fullmatch(text):
            number = int(Decimal(text).quantize(_ONE, context=_ROUNDING))
    return number if number is not None and INT64_MIN <= number <= INT64_MAX else None


def raw_json(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
