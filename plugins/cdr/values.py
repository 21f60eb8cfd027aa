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


def as_int(value: Any) -> int | None:
    """Numbers, or numeric strings; anything else is left to ``_raw``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


def raw_json(record: Any) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
