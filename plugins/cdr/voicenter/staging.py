"""Durable staging of received CDRs: an append-only segment with group commit.

Records are appended to ``<landing>/<segment>.jsonl.open`` and fsynced before their senders are answered;
requests arriving during an fsync are written and synced together, and a few such batches sync at once, so
throughput grows with load instead of being one fsync per request. A segment is sealed (renamed to ``.jsonl``,
directory fsynced) when it is old or
full; the loader takes sealed segments only. A receiver killed mid-write leaves an ``.open`` segment: at start
its unacknowledged partial last line is cut off and it is sealed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cdr import config
from cdr.fsutil import fsync_dir

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".jsonl.open"


def landing_folder() -> Path:
    """Where the receiver stages and the loader (and reconciliation) read: ``landing/voicenter/``."""
    return config.landing_dir() / "voicenter"


def seal_leftovers(folder: Path) -> list[Path]:
    sealed = []
    for path in sorted(folder.glob(f"*{OPEN_SUFFIX}")):
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut != len(data):
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                os.fsync(fh.fileno())
            log.warning("Voicenter staging: cut %d bytes of an unacknowledged write off %s", len(data) - cut, path)
        final = path.with_name(path.name[: -len(".open")])
        os.replace(path, final)
        sealed.append(final)
    if sealed:
        fsync_dir(folder)
        log.info("Voicenter staging: sealed %d segment(s) left by an earlier receiver", len(sealed))
    return sealed


class SegmentWriter:
    """Appends lines to the open segment; ``append`` returns once its line is fsynced.

    Up to ``max_inflight`` batches are written and synced at once (each fsync covers everything written before
    it began, so a batch is acknowledged only after an fsync that started after its own write). Writes are
    serialised under a lock and a failed write or fsync stops all later ones until the segment is set aside, so
    a line is never written after a partial one. Segments are sealed only while no sync is in flight.
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_records: int = 50_000,
        max_age: float = 5.0,
        max_batch: int = 2_000,
        max_inflight: int = 4,
    ):
        self.folder = folder
        self.max_records, self.max_age, self.max_batch = max_records, max_age, max_batch
        self.max_inflight = max_inflight
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._records = 0
        self._failed = False
        self._lock = threading.Lock()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._inflight: set[asyncio.Task] = set()
        self._executor = ThreadPoolExecutor(max_inflight + 1, thread_name_prefix="voicenter-staging")
        self.healthy = True

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        seal_leftovers(self.folder)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="voicenter-staging")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._settle()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._seal)
        self._executor.shutdown(wait=True)

    async def append(self, line: bytes) -> None:
        """Return once ``line`` is on disk (written and fsynced); raise OSError if it cannot be stored."""
        assert self._queue is not None, "start() first"
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((line, future))  # unbounded: never waits, so one await per request (the fsync)
        await future

    async def _settle(self) -> None:
        while self._inflight:
            await asyncio.wait(set(self._inflight))

    def _due(self) -> bool:
        return self._fd is not None and (
            self._records >= self.max_records or time.monotonic() - self._opened >= self.max_age
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._queue is not None
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), timeout=self.max_age)
            except TimeoutError:
                await self._settle()
                await self._rotate(self._seal_if_old)
                continue
            # While every slot is syncing, the queue fills: the next batch is bigger.
            while len(self._inflight) >= self.max_inflight:
                await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            if self._failed or self._due():
                await self._settle()
                await self._rotate(self._abandon if self._failed else self._seal)
            batch = [first]
            while not self._queue.empty() and len(batch) < self.max_batch:
                batch.append(self._queue.get_nowait())
            task = loop.create_task(self._commit(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _rotate(self, step) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, step)
        except OSError as exc:
            # Leave the segment to be set aside before the next write (or by the next start).
            log.error("Voicenter staging: cannot seal the open segment in %s: %s", self.folder, exc)
            self._failed = self._fd is not None

    async def _commit(self, batch: list) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._write, b"".join(line for line, _ in batch)
            )
        except OSError as exc:
            self.healthy = False
            log.error("Voicenter staging: cannot store %d CDR(s) in %s: %s", len(batch), self.folder, exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.healthy = True
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._failed:
                raise OSError(errno.EIO, "an earlier write to the open segment failed; it is set aside first")
            try:
                if self._fd is None:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}{OPEN_SUFFIX}"
                    path = self.folder / name
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                    self._opened, self._records = time.monotonic(), 0
                    # _fd last: the event loop reads it without the lock (_due), and must not see the new
                    # segment with the last one's age (it would seal it after its first batch)
                    self._path, self._fd = path, fd
                    fsync_dir(self.folder)
                fd = self._fd
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            except OSError:
                self._failed = self._fd is not None
                raise
            self._records += data.count(b"\n")
        try:
            os.fsync(fd)
        except OSError:
            self._failed = True
            raise

    def _seal_if_old(self) -> None:
        if self._fd is not None and time.monotonic() - self._opened >= self.max_age:
            self._seal()

    def _seal(self) -> None:
        if self._fd is None or self._path is None:
            return
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
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as fh:
                fh.write(b"ok")
            probe.unlink()
            return True
        except OSError:
            return False
