"""Durable staging of received CDRs: append-only segments with group commit, one writer per segment.

Records are appended to ``<landing>/<segment>.jsonl.open`` and synced before their senders are answered;
requests arriving during a sync are written and synced together, so throughput grows with load instead of being
one sync per request. An open segment is zero-filled ahead of its last line (a sync of lines written over zeros is
half the cost of one that grows the file): read it up to its last newline. A segment is sealed (cut to its last
line, renamed to ``.jsonl``, directory fsynced) when it is old or full; the loader takes sealed segments only.

One writer per segment, always. A receiver holds an exclusive ``flock`` on each segment it writes, from before
the segment has its ``.jsonl.open`` name (it is created under a dot-name, locked, then renamed) until it is
sealed, so no other process ever finds a segment being written without its lock. At start, a receiver seals only
the ``.open`` segments whose lock it can take: their writer is gone (killed, its lock released by the kernel),
and its unacknowledged partial last line is cut off. The open segment of a receiver still running is left to it:
a rolling restart (the new receiver up before the old one stops) or a second ``cdr-receiver`` started by hand
shares the folder, each with its own segments. Every 30 s a receiver seals again what no live receiver holds,
so that the segment of one killed beside it does not wait for the next start. The loader takes a sealed segment
only under the same lock (cdr.sources.voicenter.load), so never one a receiver is still sealing. flock works on local
filesystems (and Docker volumes on them), not across machines on NFS. A receiver older than these locks holds
none: when upgrading, stop it before the first receiver of this kind starts, or its open segment is sealed under
it (once: from then on every receiver locks).

Storage errors are states, not loops. A failed write or sync leaves the segment's acknowledged lines as they were
(each was synced before its sender was answered) and anything after them suspect, so the segment takes no further
write: it is cut back to its last acknowledged line and sealed first. Until that works, and while a new segment
cannot be created, every CDR gets Err 2 (Voicenter sends it again), the step is retried with backoff (0.1 s,
doubling, at most 5 s), and failures are logged once per interval with their count. A descriptor is forgotten
before it is closed, so it is closed once and never used after. A zero-fill that finds the disk full harms
nothing: what could be zero-filled is used, a batch that does not fit gets Err 2 and the segment stays open for
what fits. A segment that holds no acknowledged line is removed, never sealed, so refused CDRs leave no litter.
``ready()`` (the receiver's /healthz) says whether the next CDR can be stored: no failure pending, the folder
writable, and room for a CDR in the open segment's zero-filled part or on the disk, without writing a probe file.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
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
NEW_SUFFIX = ".jsonl.new"  # a segment being created (dot-named, not yet locked): never read, never sealed
ZERO_AHEAD = 1 << 20  # bytes of an open segment zero-filled ahead of its last line
READY_ROOM = 64 * 1024  # room /healthz asks for: far more than a usual CDR's line
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 5.0  # seconds between retries of a failed storage step
SWEEP_EVERY = 30.0  # seconds between two looks for segments a receiver that is gone left open
NEW_GRACE = 10.0  # seconds a half-created segment is given before it counts as left behind
_TAIL_BLOCK = 1 << 16
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def landing_folder() -> Path:
    """Where the receiver stages and the loader (and reconciliation) read: ``landing/voicenter/``."""
    return config.landing_dir() / "voicenter"


def try_lock(fd: int) -> bool:
    """Take the exclusive lock on a segment's descriptor, or say that a live process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open on ``fd`` (not sealed, moved or removed since it was opened)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def last_line_end(fd: int) -> tuple[int, int]:
    """(end of the last whole line, end of what was written before the zeros) of a segment, read from its tail
    block by block (a segment may be large; a line never holds a NUL byte: JSON escapes it)."""
    end = os.fstat(fd).st_size
    written = None
    while end > 0:
        start = max(0, end - _TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        if written is None:
            kept = block.rstrip(b"\0")
            if not kept:
                end = start
                continue
            written = start + len(kept)
            block = kept
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1, written
        end = start
    return 0, written or 0


def seal_leftovers(folder: Path, *, at_start: bool = True) -> list[Path]:
    """Seal the ``.open`` segments no live receiver holds (cut to their last whole line); remove those without
    one, and segments left half-created. Returns the sealed segments. ``at_start``: say how many open segments
    belong to a receiver still running (a periodic sweep keeps quiet about them)."""
    sealed, removed, held = [], 0, 0
    for path in sorted(folder.glob(f"*{OPEN_SUFFIX}")) + sorted(folder.glob(f".*{NEW_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # sealed or removed since the listing
            continue
        try:
            if not try_lock(fd):
                held += 1
                continue
            if not still_named(fd, path):
                continue
            if path.name.endswith(NEW_SUFFIX):
                # Unlocked for the instant between its creation and its lock: only an old one is a leftover.
                if time.time() - os.fstat(fd).st_mtime < NEW_GRACE:
                    continue
                cut = written = 0
            else:
                cut, written = last_line_end(fd)
            if cut != written:
                log.warning("Voicenter staging: cut %d bytes of an unacknowledged write off %s", written - cut, path)
            if cut == 0:
                os.unlink(path)
                removed += 1
                continue
            if cut != os.fstat(fd).st_size:
                os.ftruncate(fd, cut)
            os.fsync(fd)
            final = path.with_name(path.name[: -len(".open")])
            os.replace(path, final)
            sealed.append(final)
        finally:
            os.close(fd)
    if sealed or removed:
        fsync_dir(folder)
    if sealed:
        log.info("Voicenter staging: sealed %d segment(s) left by a receiver that is gone", len(sealed))
    if held and at_start:
        log.info("Voicenter staging: %d open segment(s) belong to another receiver still running: left to it", held)
    return sealed


class NoRoom(OSError):
    """The disk has no room for a batch: the segment is intact and stays open."""


class SegmentWriter:
    """Appends lines to the open segment; ``append`` returns once its line is on disk.

    One thread owns the segment: it writes everything handed to it since its last sync and syncs it (fdatasync),
    then answers those senders on the event loop, so a sync covers every request that arrived while the last one
    ran (group commit) and a line is acknowledged only after a sync that began after its write. The event loop
    hands over once per turn, after every request read in that turn has been parsed, so a burst is one sync, not
    one per request. The thread also seals the segment when it is old or full, between two syncs, and retries a
    failed storage step (see the module's docstring).
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_records: int = 50_000,
        max_bytes: int = 256 << 20,
        max_age: float = 5.0,
        log_interval: float = 60.0,
        sweep_every: float = SWEEP_EVERY,
    ):
        self.folder = folder
        self.max_records, self.max_bytes, self.max_age = max_records, max_bytes, max_age
        self.log_interval, self.sweep_every = log_interval, sweep_every
        self._next_sweep = 0.0
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened = 0.0
        self._records = 0
        self._end = self._zeroed = 0  # where the next line goes; how far the segment is zero-filled
        self._broken = False  # a write or sync into the open segment failed: seal it before anything else
        self._failing = False  # a storage step failed; retried at _retry_at
        self._retry_at = 0.0
        self._backoff = BACKOFF_FIRST
        self._failures = 0  # since the last log line
        self._refused = 0  # CDRs answered Err 2, since the last log line
        self._last_error = ""
        self._logged = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[bytes, asyncio.Future]] = []  # the event loop's alone
        self._handed: list[tuple[bytes, asyncio.Future]] = []  # under _wake
        self._wake = threading.Condition(threading.Lock())
        self._stopping = False

    async def start(self) -> None:
        ensure_dir(self.folder)
        seal_leftovers(self.folder)
        self._next_sweep = time.monotonic() + self.sweep_every
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

    @staticmethod
    def _answer(batch: list, error: OSError | None) -> None:
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    # The rest runs on the staging thread.

    def _work(self) -> None:
        assert self._loop is not None
        while True:
            with self._wake:
                if not self._handed and not self._stopping:
                    self._wake.wait(timeout=self._sleep())
                batch, self._handed = self._handed, []
                stopping = self._stopping
            if time.monotonic() >= self._next_sweep:
                self._sweep()
            if not batch:
                if stopping:
                    self._finish()
                    self._log(force=True)
                    return
                self._tick()
                continue
            try:
                error = self._store(batch)
            except Exception as exc:  # a bug, not the disk: the senders get Err 2 (and resend), the thread goes on
                log.exception("Voicenter staging: unexpected %s storing %d CDR(s)", type(exc).__name__, len(batch))
                self._broken = self._fd is not None
                error = OSError(errno.EIO, f"unexpected {type(exc).__name__} in Voicenter staging")
                self._fail(error)
            if error is not None:
                self._refused += len(batch)
                self._log()
            self._loop.call_soon_threadsafe(self._answer, batch, error)

    def _sleep(self) -> float:
        """Seconds until the next thing to do without a batch: a retry, sealing the open segment, a sweep."""
        when = self._next_sweep
        if self._failing:
            when = min(when, self._retry_at)
        elif self._fd is not None:
            when = min(when, self._opened + self.max_age)
        return max(0.0, when - time.monotonic()) + 0.01

    def _sweep(self) -> None:
        """Seal what a receiver that is gone left open (killed beside this one, which keeps running): the
        loader takes sealed segments only, so they would otherwise wait for the next start."""
        self._next_sweep = time.monotonic() + self.sweep_every
        try:
            seal_leftovers(self.folder, at_start=False)
        except OSError as exc:
            log.warning("Voicenter staging: could not look for segments left open in %s (%s)", self.folder, exc)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._failing:
            if now >= self._retry_at:
                self._attempt(self._recover)
        elif self._fd is not None and now - self._opened >= self.max_age:
            self._attempt(self._seal)
        self._log()

    def _attempt(self, step) -> bool:
        try:
            step()
        except OSError as exc:
            self._fail(exc)
            return False
        self._succeeded()
        return True

    def _fail(self, exc: OSError) -> None:
        self._count(exc)
        self._failing = True
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _count(self, exc: OSError) -> None:
        self._failures += 1
        self._last_error = f"{type(exc).__name__}: {exc.strerror or exc}"

    def _succeeded(self) -> None:
        if self._failing:
            log.warning("Voicenter staging: storing again in %s", self.folder)
        self._failing = False
        self._backoff = BACKOFF_FIRST

    def _log(self, force: bool = False) -> None:
        """One line per interval: how many storage steps failed and CDRs were refused since the last one."""
        if not (self._failures or self._refused):
            return
        now = time.monotonic()
        if force or now - self._logged >= self.log_interval:
            log.error(
                "Voicenter staging: %d storage failure(s), %d CDR(s) answered Err 2 in %s (last: %s)%s",
                self._failures,
                self._refused,
                self.folder,
                self._last_error or "recovering",
                f"; retrying in {max(0.0, self._retry_at - now):.1f} s" if self._failing else "",
            )
            self._failures = self._refused = 0
            self._logged = now

    def _recover(self) -> None:
        if self._fd is not None:
            self._seal()
        if not self._stopping:
            self._open()  # so that a good answer from ready() means a segment to store in

    def _store(self, batch: list) -> OSError | None:
        if self._failing:
            if time.monotonic() < self._retry_at:
                return OSError(errno.EAGAIN, "Voicenter staging is retrying a failed storage step")
            if not self._attempt(self._recover):
                return OSError(errno.EIO, self._last_error)
        try:
            if self._due():
                self._seal()
            self._write(b"".join(line for line, _ in batch))
        except NoRoom as exc:
            self._count(exc)
            return exc
        except OSError as exc:
            self._fail(exc)
            return exc
        self._succeeded()
        return None

    def _due(self) -> bool:
        return self._fd is not None and (
            self._records >= self.max_records
            or self._end >= self.max_bytes
            or time.monotonic() - self._opened >= self.max_age
        )

    def _open(self) -> None:
        """A new segment, locked before it has a name a reader or another receiver acts on."""
        if self._fd is not None:
            return
        ensure_dir(self.folder)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}"
        new, path = self.folder / f".{name}{NEW_SUFFIX}", self.folder / f"{name}{OPEN_SUFFIX}"
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a file of our own: nobody else can hold it
            os.replace(new, path)
            fsync_dir(self.folder)
        except BaseException:
            os.close(fd)
            for leftover in (new, path):
                try:
                    leftover.unlink(missing_ok=True)
                except OSError:
                    pass  # empty and unlocked: the next start removes it
            raise
        self._fd, self._path, self._opened, self._records = fd, path, time.monotonic(), 0
        self._end = self._zeroed = 0
        self._broken = False

    def _make_room(self, size: int) -> None:
        """Zero-fill ahead so that ``size`` more bytes go into blocks the file already has. On a full disk, fill
        as far as it goes; NoRoom if that is not enough for ``size`` (nothing past the last line is read)."""
        assert self._fd is not None
        need = self._end + size
        if need <= self._zeroed:
            return
        target = self._zeroed + max(ZERO_AHEAD, need - self._zeroed)
        zeros = memoryview(bytes(target - self._zeroed))
        while self._zeroed < target:
            try:
                written = os.pwrite(self._fd, zeros[: target - self._zeroed], self._zeroed)
            except OSError as exc:
                if exc.errno in _NO_ROOM:
                    if self._zeroed >= need:
                        return
                    raise NoRoom(exc.errno, "no room on the disk for this batch") from exc
                raise
            if written <= 0:  # no error and no progress: as full as a disk gets
                if self._zeroed >= need:
                    return
                raise NoRoom(errno.ENOSPC, "no room on the disk for this batch")
            self._zeroed += written

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self._open()
        fd = self._fd
        assert fd is not None  # _open sets it or raises
        self._make_room(len(data))
        try:
            # Lines go into blocks already written (zeros) inside the file's size, so that their fdatasync
            # has no block allocation or size to journal: half the time of an fsync of an append.
            _write_all(fd, data, self._end)
            os.fdatasync(fd)
        except OSError:
            self._broken = True
            raise
        self._end += len(data)
        self._records += data.count(b"\n")

    def _seal(self) -> None:
        """Cut the open segment to its last acknowledged line, sync it, give it its sealed name, and let it go;
        a segment without a line is removed instead. Any failure leaves it open, broken, to be sealed again."""
        fd, path = self._fd, self._path
        if fd is None or path is None:
            return
        try:
            # The zeros ahead, and whatever a failed write left past the last acknowledged line.
            os.ftruncate(fd, self._end)
            self._zeroed = self._end
            if self._end == 0:
                os.unlink(path)
            else:
                os.fsync(fd)
                final = path.with_name(path.name[: -len(".open")])
                os.replace(path, final)
                path = final
        except OSError:
            self._broken = True
            raise
        self._fd, self._path, self._broken = None, None, False
        try:
            os.close(fd)  # releases the lock; forgotten first, so never closed twice
        except OSError:
            pass
        try:
            fsync_dir(self.folder)
        except OSError as exc:
            # The rename is done; were it lost in a crash, the next start would seal the segment again.
            log.warning("Voicenter staging: could not sync %s after sealing (%s)", self.folder, exc)
        if self._end:
            log.info("Voicenter staging: sealed %s (%d CDRs)", path.name, self._records)

    def _finish(self) -> None:
        if self._fd is None:
            return
        try:
            self._seal()
        except OSError as exc:
            log.error("Voicenter staging: cannot seal %s at stop (%s); the next start will", self._path, exc)
            fd, self._fd = self._fd, None
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def ready(self) -> bool:
        """Whether the next CDR can be stored now (see the module's docstring); writes nothing."""
        if self._thread is None or self._stopping or self._failing:
            return False
        try:
            if not os.access(self.folder, os.W_OK | os.X_OK):
                return False
            if self._fd is not None and self._zeroed - self._end >= READY_ROOM:
                return True
            disk = os.statvfs(self.folder)
        except OSError:
            return False
        free = (disk.f_bfree if os.geteuid() == 0 else disk.f_bavail) * disk.f_frsize
        inodes = self._fd is not None or disk.f_files == 0 or disk.f_favail > 0  # 0 files: not counted (btrfs)
        return free >= READY_ROOM and inodes
