"""What makes bytes a Voicenter CDR: the one place the rule lives (vendor doc: "CDR Notification System API").

The rule: accept every CDR; refuse only what is not one. Voicenter reads ``Err 1`` as "received, do not send it
again", so a CDR answered ``Err 1`` is a call lost for good: no later fix can bring it back. A body is therefore
refused only when it is not a CDR at all:
  * it cannot be parsed (the format's parser gives up: cdr.sources.voicenter.formats), or it parses to something that is
    not an object of fields;
  * it has no usable id: ``ivruniqueid`` must be a non-blank printable string of at most ``MAX_ID_CHARS``
    characters (or an integer), since the warehouse counts a re-sent CDR once by it;
  * it is over the size or depth limits below, which bound what one request may cost.
Everything else is a CDR, and is acknowledged and stored as sent: fields the product does not know, of any shape
(Voicenter's examples carry ``aiData``, the Call Log's ``CustomData`` and ``DTMFData``, objects and lists nested a
few levels), and impossible values in the fields it does know (a ``time`` of 0, a negative duration, a 30-digit
price, text where a number belongs, NaN). The loader writes such a CDR to the lake as it writes any: a typed
column gets null where the value cannot be typed, ``_raw`` keeps the value, and staging counts it in
``dq_unmapped``. The loader applies this same ``check`` to what it reads back, so it quarantines only a line that
is not a CDR by this rule (or not JSON at all).

Limits, sized from the vendor's largest real CDRs: an ``aiData`` block carries a call's whole transcript, with an
emotion per sentence. A two-hour call, computed (tests/helpers.py, ``two_hour_ai_cdr``): 160 words a minute, 8
words a sentence, so 2,400 sentences and 113,000 letters of Hebrew (2 bytes each in UTF-8), each sentence with its
transcript entry and its emotions entry, is 0.9 MB as JSON, 1.3 MB as JSON with every Hebrew letter escaped
(``\u05e9``, as PHP writes by default), 1.8 MB as a form (``aiData`` an escaped JSON string, percent-encoded) and
2.7 MB as XML-RPC, the most verbose. ``MAX_BODY`` (4 MiB) takes that call in every format with room to spare (as
UTF-8 JSON, a call of nine hours). No single text is limited on its own: ``aiData`` may arrive as one JSON string.
``MAX_DEPTH``: Voicenter's ``aiData`` example nests 6 levels (CDR > aiData > insights > participants > callee >
personality_traits); 32 leaves the vendor room and keeps every walk over a CDR (ours, DuckDB's JSON functions)
short.

Messages name the field and the limit, never the value: a quarantine note or a log line never carries the body.
"""

from __future__ import annotations

from typing import Any

from cdr.values import INT64_MAX, INT64_MIN

MAX_BODY = 4 * 1024 * 1024
MAX_DEPTH = 32  # containers, the CDR object itself counted: {"a": [1]} is 2 deep
MAX_FORM_FIELDS = 10_000  # a form's fields are its CDR's; a few dozen in practice
ID_FIELD = "ivruniqueid"
MAX_ID_CHARS = 128


class OutOfBounds(ValueError):
    """The value cannot be a CDR; the message names the field and the limit, never the value."""


def _depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep, walking without recursion (a parser may hand
    over 1,000 levels)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                if depth + 1 > limit:
                    return False
                stack.append((child, depth + 1))
    return True


def usable_id(value: Any) -> bool:
    if type(value) is int:
        return INT64_MIN <= value <= INT64_MAX
    return type(value) is str and bool(value.strip()) and len(value) <= MAX_ID_CHARS and value.isprintable()


def field(cdr: dict, name: str) -> Any:
    """A field of a CDR whatever the casing it was sent in (the vendor's own bodies mix `ivruniqueid` with
    `DepartmentID`, and its documents spell one field `DepartmentID` and `DepartmentId`): the exact name first."""
    if name in cdr:
        return cdr[name]
    wanted = name.lower()
    for key, value in cdr.items():
        if type(key) is str and key.lower() == wanted:
            return value
    return None


def check(cdr: Any) -> dict:
    """Return ``cdr`` if it is a CDR by the rule above, else raise OutOfBounds."""
    if type(cdr) is not dict or not cdr:
        raise OutOfBounds("the body holds no CDR object")
    if not usable_id(field(cdr, ID_FIELD)):
        raise OutOfBounds(
            f"{ID_FIELD} missing, or not a printable string of at most {MAX_ID_CHARS} characters or an integer"
        )
    if not _depth_within(cdr, MAX_DEPTH):
        raise OutOfBounds(f"CDR: nested deeper than {MAX_DEPTH} levels")
    return cdr
