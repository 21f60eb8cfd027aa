"""Drain the Enigma Redis LISTs into the lake in bounded batches, losing nothing if killed at any instant.

The dialer LPUSHes; the oldest message is at the right end. A batch is read with LRANGE (nothing leaves Redis
yet), written to the lake (fsync, atomic rename), and only then trimmed off the right end with LTRIM. A kill
before the trim leaves the batch in Redis, to be read again: the file of an identical batch is replaced (it is
named by the batch's content) and the warehouse counts each CDR once (call_ref, else the message's hash).
We are the only consumer; a lease in Redis (redis-py's Lock: SET NX PX with our token, extended before each trim)
refuses a second drain, and one left by a killed drain expires by itself within its TTL (at most a minute).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import cast

import redis
from redis.exceptions import LockError

from cdr.lake.quarantine import quarantine
from cdr.lake.writer import LakeWriter, safe_name, sweep_temporaries
from cdr.registry import source
from cdr.sources.enigma import DEFAULT_KEYS
from cdr.sources.enigma.records import SCHEMA, batch_table

log = logging.getLogger(__name__)

SOURCE = "enigma"
DEFAULT_TIMEZONE = source(SOURCE).default_timezone
LEASE_KEY = "cdr:enigma:drain:lease"

# Trim exactly the n oldest messages, and only if they are all still there.
_TRIM = """
local n = tonumber(ARGV[1])
if redis.call('LLEN', KEYS[1]) < n then return -1 end
redis.call('LTRIM', KEYS[1], 0, -n - 1)
return n
"""
# A drain killed by Airflow (timeout, worker lost) never releases its lease: the next run waits out at most this.
MAX_LEASE_TTL_SECONDS = 60.0


class LeaseHeld(RuntimeError):
    """Another drain is running (or died less than a lease TTL ago)."""


class Lease:
    """The one-consumer lease: redis-py's Lock on ``key``, holding a token that names this process."""

    def __init__(self, client: redis.Redis, key: str = LEASE_KEY, ttl_seconds: float = MAX_LEASE_TTL_SECONDS):
        if not 0 < ttl_seconds <= MAX_LEASE_TTL_SECONDS:
            raise ValueError(f"the lease TTL must be in (0, {MAX_LEASE_TTL_SECONDS:.0f}] seconds, not {ttl_seconds}")
        self.client, self.key, self.ttl_seconds = client, key, float(ttl_seconds)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lock = client.lock(key, timeout=self.ttl_seconds, blocking=False)

    def __enter__(self) -> Lease:
        if not self.lock.acquire(token=self.token):
            holder = self.client.get(self.key)
            if isinstance(holder, bytes):
                holder = holder.decode()
            left = self.client.pttl(self.key)
            raise LeaseHeld(
                f"Enigma drain refused: another consumer holds the lease {self.key!r} "
                f"({holder or 'unknown'}); Enigma allows one consumer only. If that consumer "
                f"was killed, the lease frees itself in {max(left, 0) / 1000:.0f}s."
            )
        return self

    def renew(self) -> None:
        """A full TTL again from now; refused if the lease expired meanwhile (and may be someone else's)."""
        try:
            self.lock.extend(self.ttl_seconds, replace_ttl=True)
        except LockError:
            raise LeaseHeld(
                f"Enigma drain lost its lease {self.key!r} (expired and taken); stopping before trimming"
            ) from None

    def __exit__(self, *exc) -> None:
        try:
            self.lock.release()
        except LockError:  # expired meanwhile: nothing of ours is left to free
            log.warning("Enigma: the lease %r had expired before the drain released it", self.key)


@dataclass
class KeySummary:
    batches: int = 0
    messages: int = 0
    stored: int = 0
    quarantined: int = 0


@dataclass
class DrainSummary:
    keys: dict[str, KeySummary] = field(default_factory=dict)
    seconds: float = 0.0
    stopped_by_budget: bool = False


def batch_id(items: list[bytes]) -> str:
    """Names a batch by content. A batch is the n oldest messages of a list nobody else pops, so its oldest
    message, its newest and its size identify it: the same batch read again after a crash gets the same name."""
    digest = hashlib.md5(len(items).to_bytes(8, "big"))
    for item in (items[0], items[-1]):
        digest.update(len(item).to_bytes(8, "big"))
        digest.update(item)
    return digest.hexdigest()[:24]


def unit_for_batch(key: str, ident: str) -> str:
    """The lake unit of a batch: the key as a safe file name (an operator's key is data, never a path: ``../x``
    and ``a/b`` stay in the lake, each its own name; cdr.lake.writer.safe_name), then the batch's content id."""
    return f"{safe_name(key)}__{ident}"


def write_batch(key: str, items: list[bytes], tz_name: str, default_region: str | None = None) -> tuple[int, int]:
    """Lake file for one batch (oldest first) and quarantine for what is not JSON; returns (rows, quarantined).

    The file lands in the partition of the day it was drained: the dialer's times are read at build time. Its
    rows carry the region of numbers without a country code (``default_region``, else the registry's).
    """
    now = datetime.now(UTC)
    ident = batch_id(items)
    lineage = {
        "_source": SOURCE,
        "_extracted_at": now,
        "_batch": ident,
        "_default_region": default_region or source(SOURCE).default_region,
    }
    table, bad = batch_table(items, key, tz_name, lineage)
    for index in bad:
        quarantine(SOURCE, items[index], "not a JSON object", {"key": key, "batch": ident})
    with LakeWriter(SOURCE, SCHEMA, unit_for_batch(key, ident)) as writer:
        writer.write_table(table, now.date())
    return table.num_rows, len(bad)


@dataclass
class _Run:
    """One drain's settings and what its keys share: the client, the lease, the summary and the time budget."""

    client: redis.Redis
    lease: Lease
    summary: DrainSummary
    timezone_name: str
    default_region: str | None
    batch_size: int
    budget_seconds: float
    started: float

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > self.budget_seconds


# A batch is bounded in bytes as well as in messages: 20,000 messages of up to 5 KB took a drain past 400 MB (at 16
# MiB: 370 MB and 131,000 CDRs/s; at 8 MiB: 331 MB but 97,000 CDRs/s, bench/enigma_drain.py long-short). It is read
# in chunks from the oldest end, so that what is held is the batch and one chunk, and so that a batch is
# decided by the list alone (the same oldest messages make the same batch, read again after a crash).
MAX_BATCH_BYTES = 16 * 1024 * 1024
READ_CHUNK = 5_000


def _messages(client: redis.Redis, key: str, skip: int, batch_size: int) -> tuple[list[bytes], bool]:
    """The oldest messages but the ``skip`` oldest, oldest first: up to ``batch_size`` of them and MAX_BATCH_BYTES
    (one at least); and whether the list may hold more. The client leaves answers undecoded (redis.Redis's
    default, as here): the messages' bytes."""
    items: list[bytes] = []
    size = 0
    while len(items) < batch_size:
        want = min(READ_CHUNK, batch_size - len(items))
        if size:  # no more than the room left holds at the average size so far: a chunk is not read twice over
            want = min(want, (MAX_BATCH_BYTES - size) * len(items) // size + 1)
        newest = -(skip + len(items)) - 1
        # redis-py types every answer bytes | str, whatever the client's decode_responses
        chunk = cast(list[bytes], client.lrange(key, newest - want + 1, newest))
        chunk.reverse()
        for item in chunk:
            if items and size + len(item) > MAX_BATCH_BYTES:
                return items, True
            items.append(item)
            size += len(item)
        if len(chunk) < want:
            return items, False
    return items, True


def _drain_key(run: _Run, key: str, counts: KeySummary) -> bool:
    """Drain one key; False when the time budget ran out.

    While a batch is parsed and written (DuckDB and Parquet run outside the GIL), a second thread already reads
    the next older batch from Redis: indexes from the right end are stable, since only we remove from it.
    The read completes before the trim that shifts them.
    """
    client, batch_size = run.client, run.batch_size
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enigma-prefetch") as pool:
        items, more = _messages(client, key, 0, batch_size)
        while items:
            if run.out_of_time():
                run.summary.stopped_by_budget = True
                return False
            n = len(items)
            following = pool.submit(_messages, client, key, n, batch_size) if more else None
            rows, bad = write_batch(key, items, run.timezone_name, run.default_region)
            next_items, next_more = following.result() if following else ([], False)
            run.lease.renew()
            if client.eval(_TRIM, 1, key, n) < 0:
                raise RuntimeError(f"Enigma list {key!r} lost messages we had not trimmed: another consumer?")
            counts.batches += 1
            counts.messages += n
            counts.stored += rows
            counts.quarantined += bad
            log.info(
                "Enigma: %s batch %d: %d messages, %d stored, %d quarantined; %d left in the list",
                key,
                counts.batches,
                n,
                rows,
                bad,
                client.llen(key),
            )
            # Messages pushed meanwhile are at the left end: read the right end afresh once the prefetch runs dry.
            items, more = (next_items, next_more) if next_items else _messages(client, key, 0, batch_size)
    return True


def drain(
    client: redis.Redis,
    keys: list[str] | tuple[str, ...] = DEFAULT_KEYS,
    *,
    timezone_name: str = DEFAULT_TIMEZONE,
    default_region: str | None = None,
    batch_size: int = 20_000,
    budget_seconds: float = 240.0,
    lease_ttl_seconds: float = MAX_LEASE_TTL_SECONDS,
) -> dict:
    """Drain every key, oldest first, until each is empty or the time budget is spent."""
    started = time.monotonic()
    summary = DrainSummary()
    with Lease(client, ttl_seconds=lease_ttl_seconds) as lease:
        sweep_temporaries(SOURCE)
        run = _Run(
            client=client,
            lease=lease,
            summary=summary,
            timezone_name=timezone_name,
            default_region=default_region,
            batch_size=batch_size,
            budget_seconds=budget_seconds,
            started=started,
        )
        for key in keys:
            if not _drain_key(run, key, summary.keys.setdefault(key, KeySummary())):
                break
    summary.seconds = round(time.monotonic() - started, 3)
    result = asdict(summary)
    log.info("Enigma: drain done: %s", result)
    return result


def main(argv: list[str] | None = None) -> None:
    """`python -m cdr.sources.enigma.drain --url redis://...`: one drain outside Airflow (benchmarks, crash tests)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", action="append", dest="keys")
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--lease-ttl", type=float, default=MAX_LEASE_TTL_SECONDS)
    parser.add_argument("--timezone", default=DEFAULT_TIMEZONE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    drain(
        redis.Redis.from_url(args.url),
        args.keys or list(DEFAULT_KEYS),
        timezone_name=args.timezone,
        batch_size=args.batch_size,
        budget_seconds=args.budget,
        lease_ttl_seconds=args.lease_ttl,
    )


if __name__ == "__main__":
    main()
