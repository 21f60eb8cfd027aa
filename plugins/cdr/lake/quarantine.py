"""Input that could not be parsed is kept byte for byte, with a note of why, for a person to look at.

Files are 0640 in folders 0750, in the data directory's group (the body may hold phone numbers; cdr.access). The
note and the log line carry the reason and the size, never the body: callers pass a reason that names what is
wrong, not the offending text.

With the lake on object storage (``CDR_LAKE_URL=s3://bucket/prefix``) quarantine goes there too, under
``s3://bucket/prefix/_quarantine/<source>/<UTC date>/``, so that what any worker or receiver host set aside is
in one place; each object is one PUT, whole or absent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from cdr.lake.storage import Location, quarantine_storage

log = logging.getLogger(__name__)


def day_folder(source: str, now: datetime | None = None) -> str:
    """``<source>/<UTC date>`` under the quarantine's storage."""
    return f"{source}/{(now or datetime.now(UTC)).strftime('%Y-%m-%d')}"


def quarantine(source: str, payload: bytes, reason: str, context: dict[str, Any] | None = None) -> Location:
    """Store ``payload`` under quarantine/<source>/<UTC date>/<sha256>.bin beside a .json note.

    Named by content, so the same bad input seen again (a re-run, a re-send) is kept once.
    """
    now = datetime.now(UTC)
    digest = hashlib.sha256(payload).hexdigest()
    folder = day_folder(source, now)
    storage = quarantine_storage()
    body = storage.put(f"{folder}/{digest}.bin", payload)
    note = {"source": source, "reason": reason, "quarantined_at": now.isoformat(), "bytes": len(payload)}
    note.update(context or {})
    storage.put(f"{folder}/{digest}.json", json.dumps(note, indent=2, default=str).encode())
    log.warning("%s: quarantined %d bytes as %s: %s", source, len(payload), body, reason)
    return body


def held(source: str, day: str) -> tuple[int, int]:
    """How many bodies, and how many bytes, quarantine/<source>/<day>/ holds."""
    sizes = quarantine_storage().sizes(day_folder(source, datetime.strptime(day, "%Y-%m-%d")), ".bin")
    return len(sizes), sum(sizes)


class DailyCap:
    """At most ``max_items`` bodies and ``max_bytes`` a UTC day into quarantine/<source>/.

    Past it the caller refuses with "cannot store" (Voicenter's Err 2), so the sender tries again later and
    nothing is lost, while a sender flooding bad bodies cannot fill the disk. The count starts from what the
    day's folder already holds, so a restart does not reset it.
    """

    def __init__(self, source: str, max_items: int, max_bytes: int):
        self.source, self.max_items, self.max_bytes = source, max_items, max_bytes
        self._day: str | None = None
        self._items = self._bytes = 0
        self._lock = threading.Lock()

    def _roll(self) -> None:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        if day != self._day:
            items, size = held(self.source, day)
            self._day, self._items, self._bytes = day, items, size

    def take(self, size: int) -> bool:
        """Reserve room for a body of ``size`` bytes today; False when the day's cap is reached."""
        with self._lock:
            self._roll()
            if self._items + 1 > self.max_items or self._bytes + size > self.max_bytes:
                return False
            self._items += 1
            self._bytes += size
            return True
