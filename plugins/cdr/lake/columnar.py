"""A page of decoded JSON records as Arrow columns, giving exactly what the per-row path gives.

The per-row path (``as_text``/``as_int`` on each field, ``raw_json`` for ``_raw``, ``Table.from_pylist``) is the
definition; this module only takes shortcuts where they provably give the same values, and falls back to it
value by value where they might not:
  * typed columns: Arrow's own conversion is strict (a string column takes only str or null, an int64 column
    only int or null), and where it accepts a value the per-row functions return it unchanged. The one value
    Arrow would take but bend is a float in an int64 column (it truncates 1.5 to 1), so a column of a page that
    holds any float at the top level is always converted leniently. A column Arrow refuses is converted
    leniently too: ``as_text``/``as_int`` value by value, with an integer outside int64 read as null (as
    ``as_int`` does), so a 20-digit number never fails a pull.
  * ``_raw``: where the page came with each record's bytes as sent (cdr.sources.http.Records), those; else msgspec
    writes the same compact JSON as ``json.dumps(separators=(",", ":"), ensure_ascii=False)``
    for strings, integers of any size, booleans and null; floats it spells differently (``1e16`` for
    ``1e+16``), so a record holding a float anywhere gets ``raw_json`` itself.
"""

from __future__ import annotations

import array
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from cdr.values import INT64_MAX, INT64_MIN, BadRecord, as_int, as_text, raw_json

_PLAIN = frozenset({str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list})
_encode = msgspec.json.Encoder().encode


@dataclass
class Converted:
    """A page as lake rows: ``table`` in record order, ``days[i]`` the date partition of row i (a list, or a
    date32 array where a converter computes the days column-wise), and the records refused with the reason (for
    quarantine)."""

    table: pa.Table
    days: list[date] | pa.Array
    rejected: list[tuple[Any, str]] = field(default_factory=list)


def _float_free(value: Any) -> bool:
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is dict:
        return all(map(_float_free, value.values()))
    if kind is list:
        return all(map(_float_free, value))
    return False


def raw_column(records: Sequence[dict]) -> tuple[pa.Array, frozenset[type]]:
    """``_raw`` of each record, and the types found among the records' top-level values."""
    texts: list[bytes | str] = []
    kinds: set[type] = set()
    for record in records:
        found = set(map(type, record.values()))
        kinds |= found
        if found <= _PLAIN or (
            found <= _PLAIN | _CONTAINERS
            and _float_free([value for value in record.values() if type(value) in _CONTAINERS])
        ):
            try:
                texts.append(_encode(record))
                continue
            except (UnicodeEncodeError, msgspec.EncodeError):
                pass  # a lone surrogate, say: the per-row function says what happens to it
        texts.append(raw_json(record))
    return pa.array(texts, pa.string()), frozenset(kinds)


def sent_column(records: Sequence[Any], positions: Sequence[int]) -> pa.Array | None:
    """``_raw`` of ``records[i]`` for each i of ``positions``: the bytes the server sent for it, where the page
    came with them (cdr.sources.http.Records), else None (then ``raw_column`` writes each record again)."""
    sent = getattr(records, "raw", None)
    if sent is None:
        return None
    chosen = sent if len(positions) == len(sent) else [sent[i] for i in positions]
    # One copy of the page's bytes and its offsets, where pa.array would take each record apart: a fifth of the
    # time on rows of a few KB. Its UTF-8 is not checked again: msgspec refuses a body that is not UTF-8, and
    # each record's bytes begin and end at a token of that body.
    try:
        offsets = array.array("i", itertools.accumulate(map(len, chosen), initial=0))
    except OverflowError:  # a page of 2 GiB: Arrow splits it
        return pa.array([bytes(item) for item in chosen], pa.string())
    column = pa.StringArray.from_buffers(len(chosen), pa.py_buffer(offsets), pa.py_buffer(b"".join(chosen)))
    column.validate()
    return column


def _fractions(records: Sequence[dict], ints: Sequence[pa.Field]) -> bool:
    """Whether an int64 field of some record may hold a number with a fraction, which Arrow would truncate where
    ``as_int`` rounds: the fields read as float64 in one pass of Arrow's (a Python pass over every value cost a
    fifth of a KAZOO page's conversion), any value not whole. A page Arrow cannot read so (text, a boolean, a
    number beyond float64) is taken to hold one: its int64 fields are then read leniently, as ``as_int`` reads."""
    if not ints:
        return False
    try:
        struct = pa.array(records, pa.struct([pa.field(f.name, pa.float64()) for f in ints]))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return True
    for column in struct.flatten():
        if column.null_count < len(column) and not pc.all(pc.equal(pc.floor(column), column)).as_py():
            return True
    return False


def _digit_strings(values: list[Any]) -> pa.Array | None:
    """``values`` as int64 where every one is a whole decimal number as text (``"7"``, ``"-12"``), ``""`` or null:
    what ``as_int`` gives for them, found in one pass of Arrow's rather than one call a value. None where any is
    something else (a float, spaces, ``"1e3"``, beyond int64): ``as_int`` decides those."""
    try:
        text = pa.array(values, pa.string())
        # Arrow's own cast would also take "0x10" (as 16), which as_int does not: plain digits only.
        if not pc.all(pc.match_substring_regex(text, r"^(-?[0-9]{1,19})?$")).as_py():
            return None
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text).cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _lenient_int(value: Any) -> int | None:
    number = as_int(value)
    return number if number is None or INT64_MIN <= number <= INT64_MAX else None


def _column(values: list[Any], kind: pa.DataType, lenient: bool) -> pa.Array:
    if not lenient:
        try:
            return pa.array(values, kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    if pa.types.is_string(kind):
        return pa.array(list(map(as_text, values)), kind)
    numbers = _digit_strings(values)
    if numbers is not None:
        return numbers
    return pa.array(list(map(_lenient_int, values)), kind)


def _strict_group(records: Sequence[dict], fields: Sequence[pa.Field]) -> dict[str, pa.Array] | None:
    try:
        struct = pa.array(records, pa.struct(fields))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return {f.name: column for f, column in zip(fields, struct.flatten())}


def _convert_group(
    records: Sequence[dict], fields: Sequence[pa.Field], out: dict[str, pa.Array], odd: set[str]
) -> None:
    """Strictly where Arrow takes a group of columns whole; halve a group it refuses, down to the single
    column, which is then read leniently (and named in ``odd``). A page with one odd column costs a few
    strict passes, not a Python pass over every column."""
    columns = _strict_group(records, fields)
    if columns is not None:
        out.update(columns)
    elif len(fields) == 1:
        out[fields[0].name] = _column([record.get(fields[0].name) for record in records], fields[0].type, True)
        odd.add(fields[0].name)
    else:
        middle = len(fields) // 2
        _convert_group(records, fields[:middle], out, odd)
        _convert_group(records, fields[middle:], out, odd)


# Columns some page of a source could not take strictly (a PBX's list of transfers in a text column, say),
# by the source's field names: later pages read them leniently at once instead of finding them again. Only
# speed depends on it: a lenient read gives the same values as a strict one.
_ODD_COLUMNS: dict[tuple[str, ...], frozenset[str]] = {}


def typed_columns(
    records: Sequence[dict], fields: Sequence[pa.Field], kinds: Iterable[type] | None = None
) -> dict[str, pa.Array]:
    """The string and int64 ``fields`` of each record, read as ``as_text``/``as_int`` read them. ``kinds``: the
    types among the records' top-level values (``raw_column`` finds them); without it, the int64 fields are
    looked at for floats, the one kind that matters here."""
    key = tuple(f.name for f in fields)
    odd = set(_ODD_COLUMNS.get(key, ()))
    if kinds is None:
        floats = _fractions(records, [f for f in fields if pa.types.is_integer(f.type)])
    else:
        floats = float in set(kinds)
    columns: dict[str, pa.Array] = {}
    strict = []
    for f in fields:
        # Arrow would truncate a float in an int64 column: with floats about, those are read leniently.
        if f.name in odd or (floats and pa.types.is_integer(f.type)):
            columns[f.name] = _column([record.get(f.name) for record in records], f.type, lenient=True)
        else:
            strict.append(f)
    found: set[str] = set()
    if strict:
        _convert_group(records, strict, columns, found)
    if found:
        _ODD_COLUMNS[key] = frozenset(odd | found)
    return {f.name: columns[f.name] for f in fields}


def assemble(schema: pa.Schema, columns: dict[str, pa.Array], lineage: dict[str, Any], rows: int) -> pa.Table:
    """The lake table: converted columns where given, else each row's constant lineage value (or null)."""
    arrays = []
    for f in schema:
        column = columns.get(f.name)
        if column is None:
            value = lineage.get(f.name)
            column = pa.nulls(rows, f.type) if value is None else pa.repeat(pa.scalar(value, f.type), rows)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def from_rows(
    records: Sequence[Any],
    lineage: dict[str, Any],
    schema: pa.Schema,
    to_row: Callable[[Any, dict[str, Any]], tuple[dict[str, Any], date]],
) -> Converted:
    """The per-row path itself, for sources without a columnar converter."""
    rows, days, rejected = [], [], []
    for record in records:
        try:
            row, day = to_row(record, lineage)
        except BadRecord as exc:
            rejected.append((record, str(exc)))
            continue
        rows.append(row)
        days.append(day)
    return Converted(pa.Table.from_pylist(rows, schema=schema), days, rejected)
