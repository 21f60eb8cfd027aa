from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, ensure_schema_file, lake_schema, unit_for_interval

SCHEMA = lake_schema([pa.field("id", pa.string())])
NOW = datetime(2026, 11, 21, tzinfo=UTC)


def row(i: str) -> dict:
    return {"id": i, "_source": "t", "_extracted_at": NOW, "_raw": f'{{"id":"{i}"}}'}


def ids(path) -> list[str]:
    return pq.read_table(path).column("id").to_pylist()


def test_unit_names_sort_and_carry_no_separator_trouble():
    unit = unit_for_interval(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 1, tzinfo=UTC))
    assert unit == "20261120T000000Z_20261120T010000Z"


def test_commit_writes_partitions_and_a_rerun_replaces_them(tmp_path):
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write(row("a"), date(2026, 11, 20))
        writer.write(row("b"), date(2026, 11, 21))
    first = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert first == ["t/_schema.parquet", "t/date=2026-11-20/t__u1.parquet", "t/date=2026-11-21/t__u1.parquet"]

    # The same unit again, now with rows on one date only: the other date's file must go.
    writer = LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path)
    writer.write(row("a2"), date(2026, 11, 20))
    result = writer.commit()
    assert [p.name for p in result.removed] == ["t__u1.parquet"]
    assert ids(tmp_path / "t/date=2026-11-20/t__u1.parquet") == ["a2"]
    assert not (tmp_path / "t/date=2026-11-21/t__u1.parquet").exists()


def test_other_units_are_left_alone(tmp_path):
    for unit in ("u1", "u2"):
        with LakeWriter("t", SCHEMA, unit, lake_root=tmp_path) as writer:
            writer.write(row(unit), date(2026, 11, 20))
    assert sorted(p.name for p in (tmp_path / "t/date=2026-11-20").iterdir()) == ["t__u1.parquet", "t__u2.parquet"]


def test_a_failed_run_leaves_the_earlier_file_and_no_temporaries(tmp_path):
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write(row("old"), date(2026, 11, 20))
    with pytest.raises(RuntimeError):
        with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
            writer.write(row("new"), date(2026, 11, 20))
            raise RuntimeError("killed mid-page")
    folder = tmp_path / "t/date=2026-11-20"
    assert sorted(p.name for p in folder.iterdir()) == ["t__u1.parquet"]
    assert ids(folder / "t__u1.parquet") == ["old"]


def page(first: int, count: int) -> pa.Table:
    return pa.Table.from_pylist([row(str(i)) for i in range(first, first + count)], schema=SCHEMA)


def test_rows_given_one_by_one_land_in_order_in_their_dates(tmp_path):
    days = [date(2026, 11, 1 + i % 3) for i in range(3000)]  # more than one batch of pending rows
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        for i, day in enumerate(days):
            writer.write(row(str(i)), day)
    for d in range(3):
        expected = [str(i) for i in range(3000) if i % 3 == d]
        assert ids(tmp_path / f"t/date=2026-11-0{1 + d}/t__u1.parquet") == expected


def test_what_waits_to_be_written_is_bounded_in_bytes_over_all_dates(tmp_path):
    budget = 256 * 1024
    one_page = page(29_900, 100).get_total_buffer_size()  # the largest page written
    written: dict[date, list[str]] = {}
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path, buffer_bytes=budget) as writer:
        for p in range(300):  # 30,000 rows over 40 dates: far more than the budget holds
            table, day = page(p * 100, 100), date(2026, 10, 1) + timedelta(days=p % 40)
            writer.write_table(table, day)
            written.setdefault(day, []).extend(table.column("id").to_pylist())
            assert writer._buffered <= budget
        assert writer.peak_buffered <= budget + one_page
    files = sorted((tmp_path / "t").glob("date=*/t__u1.parquet"))
    assert len(files) == 40
    for path in files:
        day = date.fromisoformat(path.parent.name.removeprefix("date="))
        assert ids(path) == written[day]  # every row, in the order written


def test_the_bound_does_not_grow_with_volume_and_row_groups_follow_it(tmp_path):
    budget = 128 * 1024
    peaks, groups = [], []
    one_page = page(49_900, 100).get_total_buffer_size()
    for unit, pages in (("small", 50), ("large", 500)):
        with LakeWriter("t", SCHEMA, unit, lake_root=tmp_path, buffer_bytes=budget) as writer:
            for p in range(pages):
                writer.write_days(page(p * 100, 100), [date(2026, 11, 20)] * 100)
        peaks.append(writer.peak_buffered)
        meta = pq.ParquetFile(tmp_path / f"t/date=2026-11-20/t__{unit}.parquet").metadata
        assert meta.num_rows == pages * 100
        groups.append([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
    assert all(budget < peak <= budget + one_page for peak in peaks)
    # Ten times the rows: ten times the row groups, each of about the budget (the last holds the rest).
    fewest, most = budget // one_page * 100, (budget // page(0, 100).get_total_buffer_size() + 1) * 100
    assert all(fewest <= size <= most for size in groups[0][:-1] + groups[1][:-1])
    assert len(groups[1]) >= 9 * (len(groups[0]) - 1)


def test_write_days_splits_a_table_by_day_keeping_order(tmp_path):
    table = page(0, 6)
    days = [date(2026, 11, 20), date(2026, 11, 21)] * 3
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write(row("first"), date(2026, 11, 21))
        writer.write_days(table, days)
    assert ids(tmp_path / "t/date=2026-11-20/t__u1.parquet") == ["0", "2", "4"]
    assert ids(tmp_path / "t/date=2026-11-21/t__u1.parquet") == ["first", "1", "3", "5"]


def test_an_empty_table_still_publishes_its_date(tmp_path):
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write_table(SCHEMA.empty_table(), date(2026, 11, 20))
    assert pq.read_table(tmp_path / "t/date=2026-11-20/t__u1.parquet").num_rows == 0


def test_a_table_of_other_columns_is_refused_at_once(tmp_path):
    other = pa.table({"id": ["a"]})
    with pytest.raises(ValueError, match="differ from the lake's"):
        with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
            writer.write_table(other, date(2026, 11, 20))
    assert not list(tmp_path.rglob("*.parquet"))


def test_schema_file_is_empty_and_follows_schema_changes(tmp_path):
    path = ensure_schema_file("t", SCHEMA, tmp_path)
    assert pq.read_table(path).num_rows == 0 and pq.read_schema(path).names == SCHEMA.names
    wider = lake_schema([pa.field("id", pa.string()), pa.field("extra", pa.int64())])
    assert "extra" in pq.read_schema(ensure_schema_file("t", wider, tmp_path)).names


def test_quarantine_keeps_bytes_and_reason_once(data_dir):
    payload = b"\x00not json \xff{"
    first = quarantine("kazoo", payload, "not JSON", {"page": 3})
    again = quarantine("kazoo", payload, "not JSON", {"page": 3})
    assert first == again and first.read_bytes() == payload
    assert first.is_relative_to(data_dir / "quarantine" / "kazoo")
    assert '"reason": "not JSON"' in first.with_suffix(".json").read_text()
    assert len(list(first.parent.iterdir())) == 2


def test_a_date32_array_of_days_splits_as_the_list_does(tmp_path):
    table = page(0, 9)
    days = [date(2026, 11, 21), date(2026, 11, 20), date(2026, 11, 22)] * 3
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write_days(table, pa.array(days, pa.date32()))
        writer.write_days(page(9, 2), pa.array([date(2026, 11, 20)] * 2, pa.date32()))  # one day: taken whole
    for day in sorted(set(days)):
        expected = [str(i) for i, d in enumerate(days) if d == day] + (["9", "10"] if day.day == 20 else [])
        assert ids(tmp_path / f"t/date={day.isoformat()}/t__u1.parquet") == expected
    with pytest.raises(ValueError, match="no date partition"):
        with LakeWriter("t", SCHEMA, "u2", lake_root=tmp_path) as writer:
            writer.write_days(page(0, 2), pa.array([date(2026, 11, 20), None], pa.date32()))


def test_a_row_group_that_fails_to_write_fails_the_unit_and_keeps_the_earlier_files(tmp_path, monkeypatch):
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path) as writer:
        writer.write_table(page(0, 3), date(2026, 11, 20))
    real_write = pq.ParquetWriter.write_table

    def full_disk(self, table, *args, **kwargs):
        if table.num_rows > 100:  # the flushed row groups, not the schema file
            raise OSError(28, "No space left on device")
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path, buffer_bytes=16 * 1024) as writer:
            for p in range(50):  # many flushes: the error surfaces at a later flush or at the commit
                writer.write_table(page(p * 200, 200), date(2026, 11, 20))
    folder = tmp_path / "t/date=2026-11-20"
    assert sorted(p.name for p in folder.iterdir()) == ["t__u1.parquet"]  # no temporary left
    assert ids(folder / "t__u1.parquet") == ["0", "1", "2"]


# Operator input as names: an Enigma key (Connection extra `keys`) becomes part of a lake file's name.
HOSTILE_KEYS = [
    "enigma:notifications:campaigns",
    "../../x",
    "a/b",
    "a:b",
    "a-b",
    "a b",
    ".",
    "..",
    "",
    "/etc/passwd",
    "x" * 300,
    "x" * 300 + "y",
    "ключ:звонки",
    "*[?]{name}'",
]


def test_any_text_gives_a_safe_distinct_and_stable_unit_name():
    import re

    from cdr.lake.writer import safe_name

    names = [safe_name(key) for key in HOSTILE_KEYS]
    for key, name in zip(HOSTILE_KEYS, names):
        # a plain file-name word: no separator, no glob, no hidden file, no parent folder
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", name), (key, name)
        assert len(name) <= 64
        assert safe_name(key) == name  # the same key, the same unit, run after run
    assert len(set(names)) == len(HOSTILE_KEYS)
    assert safe_name("enigma:notifications:campaigns").startswith("enigma-notifications-campaigns-")


def test_a_unit_that_is_not_a_file_name_is_refused(tmp_path):
    for unit in ("../x", "a/b", ".hidden", "..", "", "a*", "a b"):
        with pytest.raises(ValueError):
            LakeWriter("t", SCHEMA, unit, lake_root=tmp_path)
    assert not any(tmp_path.iterdir())


def test_enigma_batches_of_any_key_stay_in_the_lake_each_in_its_own_file(data_dir):
    from cdr.sources.enigma.drain import write_batch

    lake = (data_dir / "lake").resolve()
    message = b'{"type": "cdr", "payload": {"call_ref": "r1"}}'
    for key in HOSTILE_KEYS:
        assert write_batch(key, [message], "Africa/Johannesburg") == (1, 0)
    files = [p for p in data_dir.rglob("*.parquet") if p.name != "_schema.parquet"]
    assert len(files) == len(HOSTILE_KEYS)
    for path in files:
        assert path.resolve().parent.parent == lake / "enigma", path
    assert sorted(k for p in files for k in pq.read_table(p, columns=["_key"]).column(0).to_pylist()) == sorted(
        HOSTILE_KEYS
    )
    # the same batch of the same key read again (a drain killed before its trim) replaces its own file
    write_batch("../../x", [message], "Africa/Johannesburg")
    assert len([p for p in data_dir.rglob("*.parquet") if p.name != "_schema.parquet"]) == len(HOSTILE_KEYS)
