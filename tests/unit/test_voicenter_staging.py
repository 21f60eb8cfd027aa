"""The receiver's staging (cdr.sources.voicenter.staging): what open and sealed segments hold on disk, one writer per
segment, and storage errors as states."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import time

import pytest

from cdr.sources.voicenter.load import load_staged
from cdr.sources.voicenter.staging import NEW_SUFFIX, OPEN_SUFFIX, SegmentWriter, seal_leftovers


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


def test_a_second_writer_on_the_folder_seals_only_what_no_live_writer_holds(tmp_path):
    """Issue 29: a receiver started beside a running one (a rolling restart) sealed the running one's open
    segment, which the loader then moved while it was still written. Locks are per open file, so two writers in
    one process contend as two processes do."""
    killed = tmp_path / f"20261206T000000-dead{OPEN_SUFFIX}"
    killed.write_bytes(b"".join(lines(102, 100)) + b'{"cdr": {"ivru' + bytes(64))  # its writer is gone: no lock

    async def run():
        first = SegmentWriter(tmp_path, max_age=60)
        await first.start()
        await asyncio.gather(*(first.append(line) for line in lines(10)))
        (open_first,) = (p for p in tmp_path.glob(f"*{OPEN_SUFFIX}"))
        second = SegmentWriter(tmp_path, max_age=60)
        await second.start()  # the new receiver comes up while the first still writes
        assert open_first.exists(), "the live writer's open segment was sealed under it"
        await asyncio.gather(*(first.append(line) for line in lines(20, 10)))  # the old one drains
        await asyncio.gather(*(second.append(line) for line in lines(30, 20)))
        await first.stop()
        await second.stop()
        return open_first

    open_first = asyncio.run(run())
    sealed = {p.name: p.read_bytes() for p in tmp_path.glob("*.jsonl")}
    assert list(tmp_path.glob("*.jsonl.*")) == []
    assert sealed.pop(killed.name[: -len(".open")]) == b"".join(lines(102, 100))
    assert sorted(sealed[open_first.name[: -len(".open")]].splitlines(keepends=True)) == sorted(lines(20))
    (theirs,) = (data for name, data in sealed.items() if name != open_first.name[: -len(".open")])
    assert sorted(theirs.splitlines(keepends=True)) == sorted(lines(30, 20))


def test_leftovers_without_a_line_are_removed_and_a_held_segment_is_left(tmp_path):
    held = tmp_path / f"20261206T000000-held{OPEN_SUFFIX}"
    held.write_bytes(b"".join(lines(1)))
    empty = tmp_path / f"20261206T000001-empty{OPEN_SUFFIX}"
    empty.write_bytes(bytes(4096) + b"")
    half = tmp_path / f"20261206T000002-half{OPEN_SUFFIX}"
    half.write_bytes(b'{"cdr": {"ivru' + bytes(10))
    creating = tmp_path / f".20261206T000003-new{NEW_SUFFIX}"
    creating.write_bytes(b"")
    os.utime(creating, (time.time() - 60, time.time() - 60))  # half-created a minute ago: left behind
    fresh = tmp_path / f".20261206T000004-new{NEW_SUFFIX}"
    fresh.write_bytes(b"")  # being created this instant, its lock a moment away: not touched
    fd = os.open(held, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert seal_leftovers(tmp_path) == []
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, held.name])
    assert [p.name for p in seal_leftovers(tmp_path)] == [held.name[: -len(".open")]]


def test_a_running_writer_seals_what_a_writer_killed_beside_it_left_open(tmp_path):
    """Two receivers on one folder, one killed: the other seals its segment within a sweep, not at its own next
    start, so the loader (which takes sealed segments only) is not kept waiting."""

    async def run():
        writer = SegmentWriter(tmp_path, max_age=60, sweep_every=0.2)
        await writer.start()
        await writer.append(lines(1)[0])
        (own,) = tmp_path.glob(f"*{OPEN_SUFFIX}")
        dead = tmp_path / f"20261206T000000-dead{OPEN_SUFFIX}"
        dead.write_bytes(b"".join(lines(3, 1)) + bytes(100))  # its writer killed: no lock held
        deadline = time.monotonic() + 20
        while dead.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not dead.exists() and own.exists()  # sealed; ours still open, still written
        await writer.append(lines(4, 3)[0])
        await writer.stop()
        return own, dead

    own, dead = asyncio.run(run())
    assert tmp_path.joinpath(dead.name[: -len(".open")]).read_bytes() == b"".join(lines(3, 1))
    assert sorted(tmp_path.joinpath(own.name[: -len(".open")]).read_bytes().splitlines(keepends=True)) == sorted(
        lines(1) + lines(4, 3)
    )


def test_the_loader_leaves_a_sealed_segment_a_writer_still_holds(data_dir):
    landing = data_dir / "landing" / "voicenter"
    landing.mkdir(parents=True)
    line = json.dumps({"received_at": "2026-11-21T00:00:05+00:00", "format": "json", "cdr": {"ivruniqueid": "a"}})
    segment = landing / "20261121T000000-aaaaaaaaaaaa.jsonl"
    segment.write_bytes(line.encode() + b"\n")
    fd = os.open(segment, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a receiver between its seal's rename and its close
        assert load_staged() == {"segments": 0, "cdrs": 0, "quarantined": 0}
        assert segment.exists()
    finally:
        os.close(fd)
    assert load_staged() == {"segments": 1, "cdrs": 1, "quarantined": 0}


class Closes:
    """os.close, recording the file behind every descriptor closed: a descriptor closed twice may by then be
    another file's or a socket's, so each segment's file must be closed once, and no close may find nothing."""

    def __init__(self, monkeypatch):
        self.files: list[tuple[int, int]] = []
        self.bad: list[int] = []
        real = os.close

        def close(fd):
            try:
                info = os.fstat(fd)
                self.files.append((info.st_dev, info.st_ino))
            except OSError:
                self.bad.append(fd)
            real(fd)

        monkeypatch.setattr(os, "close", close)

    def once(self, path_stat: os.stat_result) -> bool:
        return self.files.count((path_stat.st_dev, path_stat.st_ino)) == 1 and not self.bad


def test_a_failed_sync_is_a_state_the_segment_is_sealed_at_its_last_acknowledged_line(tmp_path, monkeypatch):
    real_fdatasync = os.fdatasync
    failing = {"on": False}

    def fdatasync(fd):
        if failing["on"]:
            raise OSError(errno.EIO, "injected")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    closes = Closes(monkeypatch)

    async def run():
        writer = SegmentWriter(tmp_path, max_age=60)
        await writer.start()
        await asyncio.gather(*(writer.append(line) for line in lines(5)))
        segment = os.fstat(writer._fd)
        failing["on"] = True
        with pytest.raises(OSError):
            await writer.append(lines(6, 5)[0])  # written, not synced: never acknowledged
        assert not writer.ready()
        with pytest.raises(OSError):
            await writer.append(lines(7, 6)[0])  # at once, while the retry waits
        failing["on"] = False
        deadline = time.monotonic() + 30
        while not writer.ready() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the thread seals the broken segment and opens a new one
        assert writer.ready()
        await asyncio.gather(*(writer.append(line) for line in lines(10, 7)))
        await writer.stop()
        return segment

    segment = asyncio.run(run())
    sealed = sorted(tmp_path.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    assert len(sealed) == 2 and list(tmp_path.glob("*.jsonl.*")) == []
    assert closes.once(segment) and closes.once(sealed[1].stat())
    assert sorted(sealed[0].read_bytes().splitlines(keepends=True)) == sorted(lines(5))  # cut after line 5
    assert sorted(sealed[1].read_bytes().splitlines(keepends=True)) == sorted(lines(10, 7))


def test_a_failed_seal_is_retried_with_backoff_not_in_a_loop(tmp_path, monkeypatch, caplog):
    """Issue 29: a failed rename at sealing was retried about 100 times a second, with a descriptor already
    closed; now it is retried with backoff, CDRs get Err 2 meanwhile, one line logs the count."""
    real_replace = os.replace
    attempts = []
    failing = {"on": True}

    def replace(src, dst):
        if str(dst).endswith(".jsonl"):
            attempts.append(time.monotonic())
            if failing["on"]:
                raise OSError(errno.EIO, "injected")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    closes = Closes(monkeypatch)
    caplog.set_level(logging.INFO, logger="cdr.sources.voicenter.staging")

    async def run():
        writer = SegmentWriter(tmp_path, max_age=0.2, log_interval=3600)
        await writer.start()
        await asyncio.gather(*(writer.append(line) for line in lines(5)))
        segment = os.fstat(writer._fd)
        await asyncio.sleep(3)  # idle: the seal falls due at 0.2 s, and fails
        refused = 0
        for line in lines(8, 5):
            try:
                await writer.append(line)
            except OSError:
                refused += 1
        ready_while_failing = writer.ready()
        failing["on"] = False
        deadline = time.monotonic() + 30
        while not writer.ready() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await writer.append(lines(9, 8)[0])
        await writer.stop()
        return segment, refused, ready_while_failing

    segment, refused, ready_while_failing = asyncio.run(run())
    failed = [at for at in attempts if at]  # every rename to a sealed name, the last ones succeeding
    assert 3 <= len(failed) <= 12, len(failed)  # 0.2 s, then 0.1, 0.2, 0.4, 0.8, 1.6 s apart: not 300
    assert failed[3] - failed[0] >= 0.6  # backing off: 0.1 + 0.2 + 0.4 s at least (a loop: milliseconds)
    assert refused == 3 and not ready_while_failing
    assert closes.once(segment)
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert 1 <= len(errors) <= 2, errors  # the first at once, the rest counted into one at the stop
    assert "Bad file descriptor" not in caplog.text
    sealed = list(tmp_path.glob("*.jsonl"))
    assert sorted(b"".join(p.read_bytes() for p in sealed).splitlines(keepends=True)) == sorted(lines(5) + lines(9, 8))
    assert all(p.stat().st_size for p in sealed) and list(tmp_path.glob("*.jsonl.*")) == []
    assert list(tmp_path.glob(".*")) == []  # no probe or half-created file left


def test_ready_writes_nothing_and_says_whether_the_next_cdr_fits(tmp_path):
    async def run():
        writer = SegmentWriter(tmp_path, max_age=60)
        assert not writer.ready()  # not started
        await writer.start()
        before = sorted(tmp_path.iterdir())
        for _ in range(5):
            assert writer.ready()
        assert sorted(tmp_path.iterdir()) == before == []
        await writer.append(lines(1)[0])
        assert writer.ready()
        await writer.stop()
        assert not writer.ready()

    asyncio.run(run())
