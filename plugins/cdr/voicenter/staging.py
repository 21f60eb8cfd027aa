"""Durable staging of received CDRs: an append-only segment with group commit.

Records are appended to ``<landing>/<segment>.jsonl.open`` and synced before their senders are answered;
requests arriving during a sync are written and synced together, so throughput grows with load instead of being
one sync per request. An open segment is zero-filled ahead of its last line (a sync of lines written over zeros is
half the cost of one that grows the file): read it up to its last newline. A segment is sealed (cut to its last
line, renamed to ``.jsonl``, directory fsynced) when it is old or full; the loader takes sealed segments only. A
receiver killed mid-write leaves an ``.open`` segment: at start its zeros and any unacknowledged partial last line
are cut off and it is sealed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
import time
import uuid
from pathlib import Path

from cdr import config
from cdr.access import ensure_dir
from cdr.fsutil import fsync_dir

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".jsonl.open"
ZERO_AHEAD = 1 << 20  # bytes of an open segment zero-filled ahead of its last line


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def landing_folder() -> Path:
    """Where the receiver stages and the loader (and reconciliation) read: ``landing/voicenter/``."""
    return config.landing_dir() / "voicenter"


def seal_leftovers(folder: Path) -> list[Path]:
    sealed = []
    for path in sorted(folder.glob(f"*{OPEN_SUFFIX}")):
        data = path.read_bytes()
        written = data.rstrip(b"\0")  # what was zero-filled ahead of the lines
        cut = written.rfind(b"\n") + 1
        if cut != len(data):
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                os.fsync(fh.fileno())
        if cut != len(written):
            log.warning("Voicenter staging: cut %d bytes of an unacknowledged write off %s", len(written) - cut, path)
        final = path.with_name(path.name[: -len(".open")])
        os.replace(path, final)
        sealed.append(final)
    if sealed:
        fsync_dir(folder)
        log.info("Voicenter staging: sealed %d segment(s) left by an earlier receiver", len(sealed))
    return sealed


class SegmentWriter:
    """Appends lines to the open segment; ``append`` returns once its line is on disk.

    One thread owns the segment: it writes everything handed to it since its last sync and syncs it (fdatasync),
    then answers those senders on the event loop, so a sync covers every request that arrived while the last one
    ran (group commit) and a line is acknowledged only after a sync that began after its write. The event loop
    hands over once per turn, after every request read in that turn has been parsed, so a burst is one sync, not
    one per request. A failed write or sync stops all later ones until the segment is set aside (a line is never
    written after a partial one). The thread also seals the segment when it is old or full, between two syncs.
    """

    def __init__(self, folder: Path, *, max_records: int = 50_000, max_age: float = 5.0):
        self.folder = folder
        self.max_records, self.max_age = max_records, max_age
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._records = 0
        self._end = self._zeroed = 0  # where the next line goes; how far the segment is zero-filled
        self._failed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[bytes, asyncio.Future]] = []  # the event loop's alone
        self._handed: list[tuple[bytes, asyncio.Future]] = []  # under _wake
        self._wake = threading.Condition(threading.Lock())
        self._stopping = False
        self.healthy = True

    async def start(self) -> None:
        ensure_dir(self.folder)
        seal_leftovers(self.folder)
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="voicenter-staging", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Store what was handed over, seal the segment, end the thread."""
        if self._pending:
            self._hand_over()
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    async def append(self, line: bytes) -> None:
        """Return once ``line`` is on disk (written and synced); raise OSError if it cannot be stored."""
        if self._loop is None or self._stopping:
            raise OSError(errno.ESHUTDOWN, "Voicenter staging is not running")
        future = self._loop.create_future()
        if not self._pending:
            # Runs after the other requests already read in this turn of the loop have been parsed.
            self._loop.call_soon(self._hand_over)
        self._pending.append((line, future))
        await future

    def _hand_over(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        with self._wake:
            self._handed += batch
            self._wake.notify()

    def _answer(self, batch: list, error: OSError | None) -> None:
        self.healthy = error is None
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _work(self) -> None:
        assert self._loop is not None
        while True:
            with self._wake:
                if not self._handed and not self._stopping:
                    self._wake.wait(timeout=self._time_left())
                batch, self._handed = self._handed, []
                stopping = self._stopping
            if not batch:
                if stopping:
                    self._rotate(self._seal)
                    return
                self._rotate(self._seal_if_old)
                continue
            try:
                error = self._store(batch)
            except Exception as exc:  # a bug, not the disk: the senders get Err 2 (and resend), the thread goes on
                log.exception("Voicenter staging: unexpected %s storing %d CDR(s)", type(exc).__name__, len(batch))
                self._failed = self._fd is not None
                error = OSError(errno.EIO, f"unexpected {type(exc).__name__} in Voicenter staging")
            self._loop.call_soon_threadsafe(self._answer, batch, error)

    def _time_left(self) -> float:
        if self._fd is None:
            return self.max_age
        return max(0.0, self._opened + self.max_age - time.monotonic()) + 0.01

    def _due(self) -> bool:
        return self._fd is not None and (
            self._records >= self.max_records or time.monotonic() - self._opened >= self.max_age
        )

    def _rotate(self, step) -> None:
        try:
            step()
        except OSError as exc:
            # Leave the segment to be set aside before the next write (or by the next start).
            log.error("Voicenter staging: cannot seal the open segment in %s: %s", self.folder, exc)
            self._failed = self._fd is not None

    def _store(self, batch: list) -> OSError | None:
        if self._failed:
            self._rotate(self._abandon)
        elif self._due():
            self._rotate(self._seal)
        try:
            self._write(b"".join(line for line, _ in batch))
        except OSError as exc:
            log.error("Voicenter staging: cannot store %d CDR(s) in %s: %s", len(batch), self.folder, exc)
            return exc
        return None

    def _write(self, data: bytes) -> None:
        if self._failed:
            raise OSError(errno.EIO, "an earlier write to the open segment failed; it is set aside first")
        try:
            if self._fd is None:
                ensure_dir(self.folder)
                name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}{OPEN_SUFFIX}"
                path = self.folder / name
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                self._path, self._opened, self._records = path, time.monotonic(), 0
                self._end = self._zeroed = 0
                fsync_dir(self.folder)
            if self._end + len(data) > self._zeroed:
                # Lines go into blocks already written (zeros) inside the file's size, so that their fdatasync
                # has no block allocation or size to journal: half the time of an fsync of an append.
                size = max(ZERO_AHEAD, len(data))
                _write_all(self._fd, bytes(size), self._zeroed)
                self._zeroed += size
            _write_all(self._fd, data, self._end)
            self._end += len(data)
            self._records += data.count(b"\n")
            os.fdatasync(self._fd)
        except OSError:
            self._failed = self._fd is not None
            raise

    def _seal_if_old(self) -> None:
        if self._fd is not None and time.monotonic() - self._opened >= self.max_age:
            self._seal()

    def _seal(self) -> None:
        if self._fd is None or self._path is None:
            return
        os.ftruncate(self._fd, self._end)  # the zeros ahead of the last line
        os.fsync(self._fd)
        os.close(self._fd)
        final = self._path.with_name(self._path.name[: -len(".open")])
        os.replace(self._path, final)
        fsync_dir(self.folder)
        log.info("Voicenter staging: sealed %s (%d CDRs)", final.name, self._records)
        self._fd, self._path = None, None

    def _abandon(self) -> None:
        """After a failed write the open segment may end in a partial line: cut it off and seal what was
        acknowledged, or leave it for the next start to do so."""
        self._failed = False
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        try:
            seal_leftovers(self.folder)
        except OSError as exc:
            log.warning("Voicenter staging: could not seal after the failure (%s); the next start will", exc)
        self._fd, self._path = None, None

    def writable(self) -> bool:
        probe = self.folder / f".probe-{uuid.uuid4().hex[:8]}"
        try:
            ensure_dir(self.folder)
            with open(probe, "wb") as fh:
                fh.write(b"ok")
            probe.unlink()
            return True
        except OSError:
            return False
