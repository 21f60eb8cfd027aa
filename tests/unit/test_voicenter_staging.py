"""The receiver's staging (cdr.voicenter.staging): what open and sealed segments hold on disk."""

from __future__ import annotations

import asyncio
import json

from cdr.voicenter.staging import OPEN_SUFFIX, SegmentWriter, seal_leftovers


def lines(n: int, start: int = 0) -> list[bytes]:
    # about 300 bytes each, like a CDR with its envelope
    return [json.dumps({"cdr": {"ivruniqueid": f"VC-{i}", "pad": "x" * 260}}).encode() + b"\n" for i in range(start, n)]


def test_lines_appended_within_max_age_stay_in_one_open_segment_until_it_is_sealed(tmp_path):
    # Several batches at once (max_batch 2000): the sync threads open the segment while the event loop decides
    # whether it is due. It once saw the new segment with the previous one's age and sealed it at once.
    written = lines(12_000)
    seen_open = {}

    async def run():
        writer = SegmentWriter(tmp_path, max_age=60)
        await writer.start()
        await asyncio.gather(*(writer.append(line) for line in written[:6000]))
        seen_open["segments"] = sorted(tmp_path.glob("*.jsonl*"))
        for chunk in range(6000, 12_000, 500):
            await asyncio.gather(*(writer.append(line) for line in written[chunk : chunk + 500]))
        await writer.stop()

    asyncio.run(run())
    (opened,) = seen_open["segments"]
    assert opened.name.endswith(OPEN_SUFFIX)
    assert list(tmp_path.glob(f"*{OPEN_SUFFIX}")) == []
    (sealed,) = tmp_path.glob("*.jsonl")
    # (the sync threads may write two batches in either order: lines are compared as a multiset)
    assert sorted(sealed.read_bytes().splitlines(keepends=True)) == sorted(written)


def test_a_segment_left_by_a_killed_receiver_loses_its_unacknowledged_half_line_only(tmp_path, caplog):
    whole = b"".join(lines(3))
    left = tmp_path / f"20261206T000000-abc{OPEN_SUFFIX}"
    left.write_bytes(whole + b'{"cdr": {"ivruniq')
    clean = tmp_path / f"20261206T000001-def{OPEN_SUFFIX}"
    clean.write_bytes(whole)

    sealed = seal_leftovers(tmp_path)

    assert sorted(path.name for path in sealed) == ["20261206T000000-abc.jsonl", "20261206T000001-def.jsonl"]
    assert all(path.read_bytes() == whole for path in sealed)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "cut 17 bytes" in warnings[0]
