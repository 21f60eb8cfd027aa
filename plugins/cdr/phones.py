"""Phone numbers to E.164 and their country, with Google's libphonenumber; one implementation for all sources."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException


def _placeholder(parsed: phonenumbers.PhoneNumber) -> bool:
    """One digit repeated (``0000000000``, KAZOO's examples' caller id of a device): libphonenumber calls it a
    possible US number, but it is nobody's."""
    return len(set(str(parsed.national_number))) <= 1


@lru_cache(maxsize=262_144)
def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number, where libphonenumber finds it possible for ``region`` and it is not a placeholder."""
    # Call centres see the same numbers again and again: the cache makes a warehouse build cheap.
    candidates = [(number, False)]
    if number.isdigit() and len(number) > 10:
        # Long digit strings are usually international numbers sent without "+" (27820001234, 972722776772):
        # that reading wins when it is a valid number.
        candidates.insert(0, ("+" + number, True))
    for text, must_be_valid in candidates:
        try:
            parsed = phonenumbers.parse(text, (region or "").upper() or None)
        except NumberParseException:
            continue
        if _placeholder(parsed):
            continue
        if phonenumbers.is_valid_number(parsed) or (not must_be_valid and phonenumbers.is_possible_number(parsed)):
            return parsed
    return None


def is_number(number: str | None, region: str | None = None) -> bool:
    """Whether ``number`` is a phone number: possible for ``region`` by libphonenumber, and not a placeholder.
    A word (``SIPSIP``, ``anonymous``), an extension or ``0000000000`` is not."""
    if number is None or not number.strip():
        return False
    return _parse(number.strip(), region) is not None


def to_e164(number: str | None, region: str | None = None) -> str | None:
    """``+27820001234`` where the number parses for ``region``, else the number as sent (trimmed)."""
    if number is None:
        return None
    text = number.strip()
    if not text:
        return None
    parsed = _parse(text, region)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if parsed else text


def country_of(number: str | None, region: str | None = None) -> str | None:
    """ISO 3166 alpha-2 code of the country a number belongs to, or None where it does not parse."""
    if number is None or not number.strip():
        return None
    parsed = _parse(number.strip(), region)
    if parsed is None:
        return None
    # A number outside every known range still has a country code: fall back to that code's main country.
    assert parsed.country_code is not None  # parse() sets it on every number it returns, or raises
    code = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(parsed.country_code)
    return code if code and code not in ("ZZ", "001") else None
