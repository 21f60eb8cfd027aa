"""Reading source values leniently into typed lake columns; the exact value always stays in ``_raw``."""

from __future__ import annotations

import json
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


def as_int(value: Any) -> int | None:
    """Numbers, or numeric strings, that fit the lake's int64; anything else is left to ``_raw``."""
    if value is None or isinstance(value, bool):
        return None
    number = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # 20 digits bound the int() work on a hostile string; isascii: int() refuses other scripts' digits.
        if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 20:
            number = int(text)
    return number if number is not None and INT64_MIN <= number <= INT64_MAX else None


def raw_json(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
