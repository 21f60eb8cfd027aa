"""PHP's ``http_build_query`` (and the ``parse_str`` that reads it back), byte for byte.

The While1 PBX signs each request with ``md5(http_build_query($params) . $api_key)`` computed by PHP, so the
client must produce PHP's exact bytes: nulls dropped, booleans as 1/0, nested arrays as ``a%5Bb%5D=``, lists
indexed from 0, empty arrays dropped, strings encoded as PHP's ``urlencode`` does (RFC 1738: space as ``+``,
only ``A-Za-z0-9-_.`` left bare, so ``~`` becomes ``%7E``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote_plus, unquote_plus


def php_urlencode(value: str) -> str:
    # Python's quote_plus leaves "~" bare (RFC 3986); PHP's urlencode does not.
    return quote_plus(value, safe="", encoding="utf-8").replace("~", "%7E")


def _scalar(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    if isinstance(value, float):
        # PHP's float printing (precision settings, "1.0E+25") is not reproduced: the API takes none.
        raise TypeError(f"http_build_query: floats are not supported ({value!r}); send them as strings")
    return str(value)


def _items(value: Any):
    if isinstance(value, Mapping):
        return value.items()
    return enumerate(value)


def _is_array(value: Any) -> bool:
    return isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, (str, bytes)))


def http_build_query(params: Mapping[str, Any]) -> str:
    parts: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if _is_array(value):
            for key, item in _items(value):
                walk(f"{prefix}%5B{php_urlencode(str(key))}%5D", item)
            return
        parts.append(f"{prefix}={php_urlencode(_scalar(value))}")

    for key, value in params.items():
        walk(php_urlencode(str(key)), value)
    return "&".join(parts)


def api_hash(params: Mapping[str, Any], api_key: str) -> str:
    """The While1 signature of ``params`` (without ``api_hash`` itself)."""
    return hashlib.md5((http_build_query(params) + api_key).encode("utf-8")).hexdigest()


_KEY = re.compile(r"^([^\[]*)((?:\[[^\]]*\])*)")


def parse_str(query: str) -> dict[str, Any]:
    """Read a query string into nested dicts as PHP's ``parse_str`` does (lists come back as dicts keyed
    "0", "1", ...; ``http_build_query`` writes them back identically)."""
    result: dict[str, Any] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote_plus(raw_key), unquote_plus(raw_value)
        match = _KEY.match(key)
        assert match is not None  # every part of the pattern is optional: it matches any key
        head, rest = match.group(1), match.group(2)
        path = [head, *re.findall(r"\[([^\]]*)\]", rest)]
        node = result
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = path[-1]
        if last == "":
            last = str(len(node))
        node[last] = value
    return result
