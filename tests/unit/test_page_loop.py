"""The page loop's own parts (cdr.sources.pull): page-edge repeats, found by set operations on the usual page; and each
record's bytes as the server sent them, kept as ``_raw`` (cdr.sources.http.Records)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import pyarrow.parquet as pq
import pytest

from cdr.sources.kazoo import records as kazoo
from cdr.sources.pull import first_sightings, pull_into_lake
from tests.unit.test_columnar import pull_server

DAY = datetime(2026, 11, 20, tzinfo=UTC)


def oracle(ids: list, previous: list | None) -> list[int]:
    seen = set(previous or ())
    keep = []
    for index, value in enumerate(ids):
        if value not in seen:
            seen.add(value)
            keep.append(index)
    return keep


@pytest.mark.parametrize(
    "ids,previous",
    [
        (["a", "b", "c"], None),
        (["a", "b", "c"], ["x", "y"]),
        (["a", "b", "a", "c", "b"], None),
        (["y", "a", "x", "b"], ["x", "y"]),
        (["a", None, "b", None], ["c"]),
        ([], ["a"]),
    ],
)
def test_first_sightings_keep_what_a_set_keeps(ids, previous):
    got, page_ids = first_sightings(ids, set(previous or ()))
    expected = oracle(ids, previous)
    assert (list(range(len(ids))) if got is None else got) == expected
    assert (got is None) == (expected == list(range(len(ids))))
    assert page_ids == set(ids)


@dataclass
class Page:
    rows: list
    number: int

    @property
    def label(self) -> str:
        return f"page {self.number}"

    @property
    def batch(self) -> str:
        return f"p{self.number}"


def pull_kazoo_pages(pages: list) -> dict:
    """The page loop over ``pages`` as a KAZOO interval of DAY."""
    return pull_into_lake(
        source="kazoo",
        label="K",
        schema=kazoo.SCHEMA,
        start=DAY,
        end=DAY + timedelta(days=1),
        pages=pages,
        to_table=kazoo.to_lake_table,
        lineage={"_default_region": "US"},
    )


def kazoo_files(data_dir) -> list:
    return [p for p in (data_dir / "lake" / "kazoo").rglob("*.parquet") if p.name != "_schema.parquet"]


def test_a_record_repeated_on_three_pages_is_written_once(data_dir):
    rows = pull_server.kazoo_rows(12)
    pages = [Page(rows[:5], 1), Page([rows[4], *rows[5:8]], 2), Page([rows[4], rows[7], *rows[8:]], 3)]
    pages = [Page(msgspec.json.decode(json.dumps(p.rows)), p.number) for p in pages]
    summary = pull_kazoo_pages(pages)
    files = kazoo_files(data_dir)
    assert sorted(pq.read_table(files).column("id").to_pylist()) == sorted(r["id"] for r in rows)
    assert summary["rows_written"] == 12 and summary["repeated_at_page_edge"] == 3


def test_raw_is_each_record_as_the_server_sent_it(httpserver, data_dir):
    """A server that indents its JSON, escapes non-ASCII and spells floats its own way: each record's ``_raw`` is
    its own bytes from the answer, not the record written again, and reads back to the same values."""
    from werkzeug import Response

    from cdr.sources.kazoo.client import KazooClient
    from cdr.sources.kazoo.extract import pull_interval

    rows = pull_server.kazoo_rows(3)
    rows[0]["caller_id_name"] = "Zoë 😀"
    rows[1]["rate"] = 1e16
    rows[2]["custom"] = {"deep": [2.5e-7, None]}
    body = json.dumps({"status": "success", "data": rows, "page_size": 3}, indent=2, ensure_ascii=True)
    httpserver.expect_request("/v2/api_auth", method="PUT").respond_with_json({"auth_token": "t", "data": {}})
    httpserver.expect_request("/v2/accounts/acc/phone_numbers").respond_with_json({"data": {"numbers": {}}})
    httpserver.expect_request("/v2/accounts/acc/cdrs").respond_with_response(
        Response(body, 200, content_type="application/json")
    )
    client = KazooClient(httpserver.url_for(""), "key", "acc", page_size=3)
    pull_interval(client, DAY, DAY + timedelta(days=1))

    files = kazoo_files(data_dir)
    lake = {r["id"]: r["_raw"] for r in pq.read_table(files).to_pylist()}
    # the expected bytes, cut from the body independently: each record of the indented list, as json.dumps
    # indents an element of a list nested once
    sent = [json.dumps(r, indent=2, ensure_ascii=True).replace("\n", "\n    ") for r in rows]
    assert [lake[r["id"]] for r in rows] == sent
    assert all(text in body for text in sent)
    assert [json.loads(lake[r["id"]]) for r in rows] == rows
    assert "\\u00eb" in lake[rows[0]["id"]] and "1e+16" in lake[rows[1]["id"]]


def test_the_pbx_pages_carry_their_records_bytes_too(httpserver):
    from werkzeug import Response

    from cdr.sources.pbx.client import PbxClient

    results = [{"id": "1", "src": "Zoë"}, {"id": "2", "billsec": 1.5e16}]
    body = json.dumps({"has_error": False, "results": results, "pagination": {"max_page": 1}}, indent=1)
    httpserver.expect_request("/api/cdr", method="POST").respond_with_response(
        Response(body, 200, content_type="application/json")
    )
    page = next(PbxClient(httpserver.url_for("/"), "tok", "key").cdr_pages(DAY, DAY + timedelta(hours=1)))
    assert page.rows == results
    assert [bytes(raw) for raw in page.rows.raw] == [
        json.dumps(r, indent=1).replace("\n", "\n  ").encode() for r in results
    ]


def test_small_pages_converted_together_keep_each_rows_page(data_dir):
    """Pages smaller than CONVERT_ROWS are converted as one: each row still names its own page in ``_batch``, a
    record refused on the second page is quarantined as that page's, and the bytes as sent stay ``_raw`` where
    every page came with them."""
    from cdr.sources.http import Records
    from cdr.sources.pull import CONVERT_ROWS

    rows = pull_server.kazoo_rows(9)
    texts = [json.dumps(r, indent=1).encode() for r in rows]
    by_page = [(0, 3), (3, 6), (6, 9)]
    pages = [
        Page(Records([msgspec.json.decode(t) for t in texts[a:b]], texts[a:b]), n)
        for n, (a, b) in enumerate(by_page, 1)
    ]
    pages[1].rows.insert(1, "not a record")
    pages[1].rows.raw.insert(1, b'"not a record"')
    assert sum(len(p.rows) for p in pages) < CONVERT_ROWS
    summary = pull_kazoo_pages(pages)
    files = kazoo_files(data_dir)
    lake = {r["id"]: r for r in pq.read_table(files).to_pylist()}
    expected_page = {r["id"]: f"p{n}" for n, (a, b) in enumerate(by_page, 1) for r in rows[a:b]}
    assert {i: r["_batch"] for i, r in lake.items()} == expected_page
    assert {i: r["_raw"] for i, r in lake.items()} == {r["id"]: t.decode() for r, t in zip(rows, texts)}
    assert summary["quarantined"] == 1 and summary["rows_written"] == 9 and summary["pages"] == 3
    notes = [json.loads(p.read_text()) for p in (data_dir / "quarantine" / "kazoo").rglob("*.json")]
    assert [n["page"] for n in notes] == ["p2"]


def test_groups_close_at_convert_rows_and_keep_bytes_as_sent_apart(data_dir, monkeypatch):
    """A group is written once it holds CONVERT_ROWS records; a record repeated across two groups' edge is still
    written once; a page without its bytes as sent (read by the fallback) is converted apart from those with them,
    so theirs stay as sent."""
    import cdr.sources.pull as pull
    from cdr.sources.http import Records

    monkeypatch.setattr(pull, "CONVERT_ROWS", 4)
    rows = pull_server.kazoo_rows(11)
    texts = [json.dumps(r, indent=1).encode() for r in rows]

    def sent(a, b, n):
        return Page(Records([msgspec.json.decode(t) for t in texts[a:b]], texts[a:b]), n)

    page3 = [msgspec.json.decode(texts[5]), *(msgspec.json.decode(t) for t in texts[6:8])]  # repeats row 5
    pages = [sent(0, 3, 1), sent(3, 6, 2), Page(page3, 3), sent(8, 11, 4)]
    summary = pull_kazoo_pages(pages)
    files = kazoo_files(data_dir)
    lake = {r["id"]: r for r in pq.read_table(files).to_pylist()}
    assert summary["rows_written"] == 11 and summary["repeated_at_page_edge"] == 1 and len(lake) == 11
    assert lake[rows[5]["id"]]["_batch"] == "p2"
    for n, row in enumerate(rows):
        if n in (6, 7):  # the page without its bytes: each record written again, compactly
            assert lake[row["id"]]["_raw"] == json.dumps(row, separators=(",", ":"), ensure_ascii=False)
        else:
            assert lake[row["id"]]["_raw"] == texts[n].decode()


@pytest.mark.parametrize("content_type", ["application/json; charset=iso-8859-1", "application/json"])
def test_a_page_in_latin_1_is_read_not_refused(httpserver, data_dir, content_type):
    """msgspec reads UTF-8 only; a body in another encoding is read as requests reads it (its declared charset,
    else the encoding its bytes look like) instead of failing the pull as "not JSON"."""
    from werkzeug import Response

    from cdr.sources.kazoo.client import KazooClient
    from cdr.sources.kazoo.extract import pull_interval

    rows = pull_server.kazoo_rows(2)
    rows[0]["caller_id_name"] = "Zoë Müller, Sávio, Françoise, Mañana São Paulo"
    body = json.dumps({"status": "success", "data": rows, "page_size": 2}, ensure_ascii=False).encode("latin-1")
    httpserver.expect_request("/v2/api_auth", method="PUT").respond_with_json({"auth_token": "t", "data": {}})
    httpserver.expect_request("/v2/accounts/acc/phone_numbers").respond_with_json({"data": {"numbers": {}}})
    httpserver.expect_request("/v2/accounts/acc/cdrs").respond_with_response(
        Response(body, 200, content_type=content_type)
    )
    pull_interval(KazooClient(httpserver.url_for(""), "key", "acc", page_size=2), DAY, DAY + timedelta(days=1))
    files = kazoo_files(data_dir)
    names = {r["id"]: r["caller_id_name"] for r in pq.read_table(files).to_pylist()}
    assert names[rows[0]["id"]] == rows[0]["caller_id_name"] and len(names) == 2
