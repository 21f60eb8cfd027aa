from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cdr.lake import LakeWriter, ensure_schema_file, lake_schema, unit_for_interval
from cdr.quarantine import quarantine

UTC = timezone.utc
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


def test_rows_stream_out_in_row_groups(tmp_path):
    with LakeWriter("t", SCHEMA, "u1", lake_root=tmp_path, rows_per_group=10) as writer:
        for i in range(35):
            writer.write(row(str(i)), date(2026, 11, 20))
            # Never more than one row group's worth held in memory.
            assert all(len(p.buffer) < 10 for p in writer._partitions.values())
    meta = pq.ParquetFile(tmp_path / "t/date=2026-11-20/t__u1.parquet").metadata
    assert meta.num_rows == 35 and meta.num_row_groups == 4


def test_schema_file_is_empty_and_follows_schema_changes(tmp_path):
    path = ensure_schema_file("t", SCHEMA, tmp_path)
    assert pq.read_table(path).num_rows == 0 and pq.read_schema(path).names == SCHEMA.names
    wider = lake_schema([pa.field("id", pa.string()), pa.field("extra", pa.int64())])
    assert "extra" in pq.read_schema(ensure_schema_file("t", wider, tmp_path)).names


def test_quarantine_keeps_bytes_and_reason_once(data_dir):
    payload = b'\x00not json \xff{'
    first = quarantine("kazoo", payload, "not JSON", {"page": 3})
    again = quarantine("kazoo", payload, "not JSON", {"page": 3})
    assert first == again and first.read_bytes() == payload
    assert first.is_relative_to(data_dir / "quarantine" / "kazoo")
    assert '"reason": "not JSON"' in first.with_suffix(".json").read_text()
    assert len(list(first.parent.iterdir())) == 2
