"""Input that could not be parsed is kept byte for byte, with a note of why, for a person to look at."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cdr import config
from cdr.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)


def quarantine(source: str, payload: bytes, reason: str, context: dict[str, Any] | None = None) -> Path:
    """Store ``payload`` under quarantine/<source>/<UTC date>/<sha256>.bin beside a .json note.

    Named by content, so the same bad input seen again (a re-run, a re-send) is kept once.
    """
    now = datetime.now(timezone.utc)
    digest = hashlib.sha256(payload).hexdigest()
    folder = config.quarantine_dir() / source / now.strftime("%Y-%m-%d")
    body = atomic_write_bytes(folder / f"{digest}.bin", payload)
    note = {"source": source, "reason": reason, "quarantined_at": now.isoformat(), "bytes": len(payload)}
    note.update(context or {})
    atomic_write_bytes(folder / f"{digest}.json", json.dumps(note, indent=2, default=str).encode())
    log.warning("%s: quarantined %d bytes as %s: %s", source, len(payload), body, reason)
    return body
