"""The receiver's staging (cdr.voicenter.staging): what open and sealed segments hold on disk."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from cdr.voicenter.staging import OPEN_SUFFIX, SegmentWriter, seal_leftovers


def lines(n: int, start: int = 0) -> list[bytes]:
    # about 300 bytes each, like a CDR with its envelope
    return [json.dumps({"cdr": {"ivruniqueid": f"VC-{i}", "pad": "x" * 260}}).encode() + b"\n" for i in range(start, n)]


def test_lines_appended_within_max_age_stay_in_one_open_segment_until_it_is_sealed(tmp_path):
    # Past 1 MiB, so the segment is zero-filled ahead more than once. (A new segment was once sealed right
    # after its first batch: the event loop saw it with the previous segment's age.)
    written = lines(12_000)
    seen_open = {}

    async def run():
        writer = SegmentWriter(tmp_path, max_age=60)
        await writer.start()
        await asyncio.gather(*(writer.append(line) for line in written[:6000]))
        (opened,) = tmp_path.glob("*.jsonl*")
        seen_open[opened.name] = opened.read_bytes()
        for chunk in range(6000, 12_000, 500):
            await asyncio.gather(*(writer.append(line) for line in written[chunk : chunk + 500]))
        await writer.stop()

    asyncio.run(run())
    ((name, while_open),) = seen_open.items()
    assert name.endswith(OPEN_SUFFIX)
    whole = while_open[: while_open.rfind(b"\n") + 1]
    assert set(while_open[len(whole) :]) <= {0}  # the open segment: its acknowledged lines, then zeros only
    assert sorted(whole.splitlines(keepends=True)) == sorted(written[:6000])
    assert list(tmp_path.glob(f"*{OPEN_SUFFIX}")) == []
    (sealed,) = tmp_path.glob("*.jsonl")
    assert sealed.name == name[: -len(".open")]
    # sealed: exactly the lines, no zeros (lines are compared as a multiset: gather need not keep their order)
    assert sorted(sealed.read_bytes().splitlines(keepends=True)) == sorted(written)
    assert sealed.read_bytes().endswith(b"\n")


def test_a_burst_of_appends_is_one_sync_not_one_per_line(tmp_path, monkeypatch):
    syncs = []
    real_fdatasync = os.fdatasync

    def counted(fd):
        syncs.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    burst = lines(2000)

    async def run():
        writer = SegmentWriter(tmp_path, max_age=60)
        await writer.start()
        await asyncio.gather(*(writer.append(line) for line in burst))  # all read in one turn of the loop
        synced_for_burst = len(syncs)
        for line in lines(2005, 2000):  # one at a time: each waits for its own sync
            await writer.append(line)
        await writer.stop()
        return synced_for_burst

    assert asyncio.run(run()) == 1
    assert len(syncs) == 1 + 5
    (sealed,) = tmp_path.glob("*.jsonl")
    assert sorted(sealed.read_bytes().splitlines(keepends=True)) == sorted(burst + lines(2005, 2000))


def test_append_after_stop_is_refused_with_an_os_error(tmp_path):
    async def run():
        writer = SegmentWriter(tmp_path)
        await writer.start()
        await writer.append(lines(1)[0])
        await writer.stop()
        with pytest.raises(OSError):
            await writer.append(lines(2, 1)[0])

    asyncio.run(run())
    (sealed,) = tmp_path.glob("*.jsonl")
    assert sealed.read_bytes() == lines(1)[0]


def test_a_segment_left_by_a_killed_receiver_loses_its_unacknowledged_half_line_only(tmp_path, caplog):
    whole = b"".join(lines(3))
    left = tmp_path / f"20261206T000000-abc{OPEN_SUFFIX}"
    left.write_bytes(whole + b'{"cdr": {"ivruniq' + bytes(4096))
    clean = tmp_path / f"20261206T000001-def{OPEN_SUFFIX}"
    clean.write_bytes(whole + bytes(100))
    unfilled = tmp_path / f"20261206T000002-123{OPEN_SUFFIX}"
    unfilled.write_bytes(whole)

    sealed = seal_leftovers(tmp_path)

    assert sorted(path.name for path in sealed) == [
        "20261206T000000-abc.jsonl",
        "20261206T000001-def.jsonl",
        "20261206T000002-123.jsonl",
    ]
    assert all(path.read_bytes() == whole for path in sealed)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cut 17 bytes" in warnings[0]
