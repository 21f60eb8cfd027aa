"""Pages converted column by column give exactly the rows the row-by-row definition gives.

The expected rows come from each source's ``to_lake_row`` (json.dumps, as_text/as_int, Table.from_pylist), the
definition the columnar path must match, over the demo data, the benchmark's data and pages built to hit every
shortcut's edge: odd types per column, floats, nested values, bad records, times at daylight-saving changes.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdr.lake import columnar
from cdr.sources.kazoo import records as kazoo
from cdr.sources.pbx import records as pbx
from cdr.sources.pull import pull_into_lake
from cdr.values import BadRecord, raw_json

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import pull_server  # noqa: E402

DAY = datetime(2026, 11, 20, tzinfo=UTC)
LINEAGE = {
    "_source": "t",
    "_interval_start": DAY,
    "_interval_end": DAY + timedelta(days=1),
    "_extracted_at": datetime(2026, 11, 21, 3, tzinfo=UTC),
    "_batch": "w1p1",
    "_default_region": "US",
    "_timezone": "Europe/Bucharest",
}


def row_by_row(module, records):
    """The definition: each record through to_lake_row, the rows through Table.from_pylist."""
    rows, days, rejected = [], [], []
    for record in records:
        try:
            row, day = module.to_lake_row(record, LINEAGE)
        except BadRecord as exc:
            rejected.append((record, str(exc)))
            continue
        rows.append(row)
        days.append(day)
    return pa.Table.from_pylist(rows, schema=module.SCHEMA).to_pylist(), days, rejected


def assert_same(module, records):
    # Through JSON, as a page arrives (and so that both paths see equal, not shared, objects).
    text = json.dumps(records)
    got = module.to_lake_table(msgspec.json.decode(text), LINEAGE)
    rows, days, rejected = row_by_row(module, json.loads(text))
    assert got.table.schema == module.SCHEMA
    assert got.table.to_pylist() == rows
    assert (got.days.to_pylist() if isinstance(got.days, pa.Array) else got.days) == days
    # Quarantine is named by content, so only which records and why matter, not in which order.
    assert sorted(got.rejected, key=repr) == sorted(rejected, key=repr)
    return got


def odd_kazoo_rows() -> list:
    base = pull_server.kazoo_rows(40)
    odd = [dict(r) for r in base]
    odd[0]["cost"] = 0  # an int in a text column
    odd[1]["duration_seconds"] = "17"  # digits in an int column
    odd[2]["billing_seconds"] = " 4 "
    odd[3]["billing_seconds"] = ""
    odd[4]["duration_seconds"] = True  # a bool is no number
    odd[5]["caller_id_name"] = False
    odd[6]["rate"] = 0.5  # a float in a text column
    odd[7]["duration_seconds"] = 5.0  # an integral float in an int column
    odd[8]["billing_seconds"] = 1.5  # Arrow would make this 1
    odd[9]["custom"] = {"deep": [1, 2.5e-7, {"x": 1e16}]}  # floats only nested: _raw must spell them as json
    odd[10]["owner_id"] = {"nested": ["a", None]}
    odd[11]["timestamp"] = None  # no start: the interval's day
    odd[12]["timestamp"] = 0
    odd[13]["timestamp"] = 31_622_412  # 0001-01-01: far outside the usual years, a date all the same
    odd[14]["timestamp"] = 9_000_000_000_000_000  # no date: quarantined with the reason
    odd[15]["caller_id_name"] = 'Zoë \u00e9\u2028\x00\x1f"\\\n\t\r\b\f 😀'
    odd[16]["unknown_big"] = 123456789012345678901234567890  # stays exact in _raw
    odd[17]["timestamp"] = "63962352100"  # a numeric string start
    for name in kazoo.STRING_FIELDS[1::3]:
        odd[18].pop(name)  # missing fields are null
    return [*odd, "not an object", {"id": ""}, {"id": 5}, {"no_id": 1}, None, [1, 2]]


def test_kazoo_pages_from_the_demo_and_the_benchmark(kazoo_rows):
    for start in range(0, len(kazoo_rows), 100):
        assert_same(kazoo, kazoo_rows[start : start + 100])
    assert_same(kazoo, pull_server.kazoo_rows(1000))


def test_kazoo_pages_with_every_odd_value():
    got = assert_same(kazoo, odd_kazoo_rows())
    # only what is no CDR: not an object, or no id; a numeric id is text, a timestamp no calendar has is kept
    # (staging counts it) in its interval's day
    assert len(got.rejected) == 5
    by_id = {r["id"]: r for r in got.table.to_pylist()}
    odd = odd_kazoo_rows()
    assert "5" in by_id and by_id[odd[14]["id"]]["timestamp"] == odd[14]["timestamp"]
    # 1.5 s rounded half away from zero, as values.as_int rounds (Arrow would truncate it to 1)
    assert by_id[odd[8]["id"]]["billing_seconds"] == 2 and by_id[odd[7]["id"]]["duration_seconds"] == 5
    assert '"unknown_big":123456789012345678901234567890' in by_id[odd[16]["id"]]["_raw"]
    assert "2.5e-07" in by_id[odd[9]["id"]]["_raw"] and "1e+16" in by_id[odd[9]["id"]]["_raw"]


def test_each_odd_value_alone_in_a_page_and_pages_after_it():
    # Alone, each odd value is the one refusal the halving must find; the pages after it read its column
    # leniently from the start (the remembered odd columns), and must still match.
    for record in odd_kazoo_rows():
        assert_same(kazoo, [*pull_server.kazoo_rows(5), record])
        assert_same(kazoo, pull_server.kazoo_rows(5))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 12345678901234567890, 10**30])
def test_an_integer_beyond_int64_is_null_and_fails_nothing(value):
    record = {**pull_server.kazoo_rows(1)[0], "duration_seconds": value, "billing_seconds": str(value)}
    text = json.dumps([record])
    got = kazoo.to_lake_table(msgspec.json.decode(text), LINEAGE)
    row = got.table.to_pylist()[0]
    assert row["duration_seconds"] is None and row["billing_seconds"] is None
    assert json.loads(row["_raw"]) == json.loads(text)[0]  # the exact digits, not a float
    assert f'"duration_seconds":{value}' in row["_raw"]


def odd_pbx_rows() -> list:
    tz = ZoneInfo("Europe/Bucharest")
    rows = pull_server.pbx_rows(30)
    odd = [dict(r) for r in rows]
    odd[0]["bill_minutes"] = "3"
    odd[1]["bill_minutes"] = 2.0
    odd[2]["bill_minutes"] = 2.5
    odd[3]["transfers"] = [{"from": "a", "to": "b", "at": 1.25}]
    odd[4]["id"] = 1234  # a numeric id is read as text
    odd[5]["time_end"] = None
    odd[6]["time_end"] = ""
    odd[7]["duration"] = "bad"
    odd[8]["uniqueid"] = None  # no hint in a repeated hour: the earlier reading
    odd[8]["time"] = "2026-10-25 03:30:00"
    odd[9]["time"] = "2026-10-25 03:30:00"  # the hint decides
    odd[9]["uniqueid"] = f"{int(datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp())}.9"
    odd[10]["time"] = "2026-03-29 03:30:00"  # a wall time that never happened
    odd[11]["time"] = "2026-1-5 3:04:05"  # a shape strptime still reads
    odd[12]["time_end"] = (datetime(2026, 11, 20, 12, tzinfo=UTC).astimezone(tz)).strftime("%Y-%m-%d %H:%M:%S")
    odd[13]["comments"] = {"k": [True, None, 10**25]}
    return [
        *odd,
        {"id": None, "time": "2026-11-20 10:00:00"},
        {"id": "", "time": "x"},
        {"id": "1"},
        {"id": "2", "time": "yesterday"},
        {"id": "3", "time": "2026-13-01 00:00:00"},
        {"id": "4", "time": "2026-11-31 10:00:00"},
        {"id": "5", "time": "2026-11-20 24:00:00"},
        {"id": "6", "time": "0000-01-01 00:00:00"},
        {"id": "7", "time": "0001-01-01 00:30:00"},
        {"id": "8", "time": "2026-11-20 10:00:00", "time_end": "2026-11-20 10:00:61"},
        42,
    ]


def test_pbx_pages_from_the_demo_and_the_benchmark():
    demo = json.loads((ROOT / "include" / "demo_data" / "pbx_cdrs.json").read_text())
    for start in range(0, len(demo), 100):
        assert_same(pbx, demo[start : start + 100])
    assert_same(pbx, pull_server.pbx_rows(500))


def test_pbx_pages_with_every_odd_value():
    got = assert_same(pbx, odd_pbx_rows())
    # only what is no CDR (no id, not an object); a time that cannot be read is kept, null in time_utc
    assert len(got.rejected) == 3
    by_id = {r["id"]: r for r in got.table.to_pylist()}
    assert all(by_id[ident]["time_utc"] is None for ident in "1234567")
    assert by_id["8"]["time_utc"] is not None and by_id["8"]["time_end_utc"] is None
    for record in odd_pbx_rows():
        assert_same(pbx, [*pull_server.pbx_rows(3), record])


@pytest.mark.slow
def test_local_times_read_as_strptime_reads_them_at_every_change_of_the_clock():
    def reference(text, tz, hint):
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        readings = sorted({naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
        return (
            readings[0]
            if hint is None or len(readings) == 1
            else min(readings, key=lambda moment: abs(moment.timestamp() - hint))
        )

    # This year's changes, and old ones by odd seconds (Bucharest's mean time ended in 1931, Amsterdam's
    # +00:19:32 in 1937).
    spans = [
        (datetime(2026, 1, 1), datetime(2027, 1, 1), timedelta(minutes=13, seconds=7)),
        (datetime(1931, 7, 23, 21), datetime(1931, 7, 24, 3), timedelta(seconds=37)),
        (datetime(1937, 6, 30, 22), datetime(1937, 7, 1, 2), timedelta(seconds=37)),
    ]
    for name in ("Europe/Bucharest", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Amsterdam"):
        tz = ZoneInfo(name)
        for moment, until, step in spans:
            while moment < until:
                text = moment.strftime("%Y-%m-%d %H:%M:%S")
                for hint in (None, moment.timestamp() - 5400, moment.timestamp() + 5400):
                    assert pbx.local_to_utc(text, tz, hint) == reference(text, tz, hint), (name, text, hint)
                moment += step


def test_raw_json_text_is_json_dumps_for_every_character():
    chars = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    records = [
        {"s": chars[i : i + 4096], "n": i, "b": i % 2 == 0, "z": None, "l": [chars[i : i + 3]]}
        for i in range(0, len(chars), 4096)
    ]
    raw, kinds = columnar.raw_column(records)
    assert raw.to_pylist() == [raw_json(r) for r in records]
    assert kinds == {str, int, bool, type(None), list}


def test_pages_decode_to_the_values_json_gives():
    rng = random.Random(7)
    values = [rng.uniform(-1e6, 1e6) for _ in range(2000)] + [
        rng.random() * 10 ** rng.randint(-300, 300) for _ in range(2000)
    ]
    values += [2**64, -(2**70), 0, -0.0, 1e-7, 5e-324, 1.7976931348623157e308]
    text = json.dumps({"data": values, "s": "\u00e9\u2028😀"}).encode()
    from cdr.sources.http import _decode

    assert _decode(text) == json.loads(text)


@dataclass
class FakePage:
    rows: list
    number: int

    @property
    def label(self) -> str:
        return f"page {self.number}"

    @property
    def batch(self) -> str:
        return f"p{self.number}"


def test_the_page_loop_skips_edge_repeats_and_quarantines_bad_rows_byte_for_byte(data_dir):
    rows = pull_server.kazoo_rows(30)
    rows[5]["duration_seconds"] = 12345678901234567890  # a 20-digit number fails nothing
    bad = {"id": "", "timestamp": 1}
    pages = [FakePage(rows[:10], 1), FakePage([rows[9], *rows[10:20], bad], 2), FakePage([rows[19], *rows[20:]], 3)]
    text_pages = [FakePage(msgspec.json.decode(json.dumps(p.rows)), p.number) for p in pages]
    summary = pull_into_lake(
        source="kazoo",
        label="K",
        schema=kazoo.SCHEMA,
        start=DAY,
        end=DAY + timedelta(days=1),
        pages=text_pages,
        to_table=kazoo.to_lake_table,
        lineage={"_default_region": "US"},
    )
    assert summary["rows_written"] == 30 and summary["repeated_at_page_edge"] == 2 and summary["quarantined"] == 1
    files = [p for p in (data_dir / "lake" / "kazoo").rglob("*.parquet") if p.name != "_schema.parquet"]
    lake = pq.read_table(files).to_pylist()
    assert [r["id"] for r in lake] == [r["id"] for r in rows]
    assert [json.loads(r["_raw"]) for r in lake] == rows
    kept = list((data_dir / "quarantine" / "kazoo").rglob("*.bin"))
    assert [p.read_bytes() for p in kept] == [json.dumps(bad, separators=(",", ":")).encode()]
    assert "no id" in kept[0].with_suffix(".json").read_text()

    # The row-by-row path through the same loop writes the same lake (int64 values only: beyond them, that
    # path follows values.as_int).
    text_pages[0].rows[5]["duration_seconds"] = rows[5]["duration_seconds"] = 7
    columnar_lake = pull_into_lake(
        source="kazoo",
        label="K",
        schema=kazoo.SCHEMA,
        start=DAY,
        end=DAY + timedelta(days=1),
        pages=text_pages,
        to_table=kazoo.to_lake_table,
        lineage={"_default_region": "US"},
    )
    first = pq.read_table(files).drop_columns(["_extracted_at"]).to_pylist()
    again = pull_into_lake(
        source="kazoo",
        label="K",
        schema=kazoo.SCHEMA,
        start=DAY,
        end=DAY + timedelta(days=1),
        pages=text_pages,
        to_row=kazoo.to_lake_row,
        lineage={"_default_region": "US"},
    )
    assert again == columnar_lake
    assert pq.read_table(files).drop_columns(["_extracted_at"]).to_pylist() == first


def assert_same_as_sent(module, records):
    """As a pull reads a page: each record's bytes as sent kept for ``_raw`` (cdr.sources.http.Records), so the typed
    columns take the path that looks for fractions in Arrow rather than in the decoded values."""
    from cdr.sources.http import Records, _raw_slices

    content = json.dumps({"data": records}, separators=(",", ":"), ensure_ascii=False).encode()
    page = Records(msgspec.json.decode(content)["data"], _raw_slices(content, "data"))
    got = module.to_lake_table(page, LINEAGE)
    rows, days, rejected = row_by_row(module, json.loads(content)["data"])
    assert not got.rejected and not rejected  # pages of CDRs only: each row's _raw is its record as sent
    sent = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records]
    got_rows = got.table.to_pylist()
    assert [row.pop("_raw") for row in got_rows] == sent
    assert got_rows == [{k: v for k, v in row.items() if k != "_raw"} for row in rows]
    assert (got.days.to_pylist() if isinstance(got.days, pa.Array) else got.days) == days
    return got


@pytest.mark.parametrize("variant", list(pull_server.VARIANTS))
@pytest.mark.parametrize("module, source", [(kazoo, "kazoo"), (pbx, "pbx")])
def test_every_benchmark_variant_converts_as_the_definition(module, source, variant):
    rows = pull_server.variant_rows(source, 300, pull_server.VARIANTS[variant])
    for start in range(0, len(rows), 100):
        assert_same(module, rows[start : start + 100])
        assert_same_as_sent(module, rows[start : start + 100])


INT_TEXTS = ["7", "-12", "+7", "007", " 7", "7 ", "1e3", "0x10", "", "-0", "1_000", "7.0", "٣", "9" * 19, "9" * 20]


@pytest.mark.parametrize("text", INT_TEXTS)
def test_a_number_as_text_in_every_row_of_an_int_column(text):
    # Arrow reads a column of digits in one pass; anything else it would read otherwise than as_int ("0x10"
    # as 16, say) goes value by value.
    base = pull_server.kazoo_rows(20)
    page = [{**r, "billing_seconds": text if n % 2 else "5", "duration_seconds": text} for n, r in enumerate(base)]
    assert_same(kazoo, page)
    assert_same_as_sent(kazoo, page)


def test_a_fraction_anywhere_in_an_int_column_is_rounded_as_as_int_rounds():
    base = pull_server.kazoo_rows(50)
    for position in (0, 25, 49):
        page = [dict(r) for r in base]
        page[position]["billing_seconds"] = 2.5
        got = assert_same_as_sent(kazoo, page)
        assert got.table.column("billing_seconds")[position].as_py() == 3  # Arrow alone would give 2


def test_starts_at_and_beyond_the_calendar_s_edges_date_as_the_definition_dates_them():
    # Column-wise days must match from_gregorian's, or the interval's day where it has none.
    edges = [31_622_399, 31_622_400, 31_622_400 + 86_399, 315_569_519_999, 315_569_520_000, -1, -(2**62), 2**62]
    unix = [1_763_596_800, 1, 86_399, 86_400]  # Unix seconds where Gregorian ones are documented
    base = pull_server.kazoo_rows(len(edges) + len(unix))
    page = [{**row, "timestamp": start} for row, start in zip(base, edges + unix, strict=True)]
    got = assert_same_as_sent(kazoo, page)
    days = got.days.to_pylist()
    assert days[1] == date(1, 1, 1) and days[3] == date(9999, 12, 31)
    assert days[0] == days[4] == days[5] == DAY.date()  # no calendar has them: the interval's day
