"""Move what the receiver staged from one landing folder into another on a different filesystem, losing and
doubling nothing: the upgrade to the docker-compose.yaml that gives the receiver a volume of its own.

Before it, the receiver staged in the shared data volume (``landing/voicenter/``); the new volume is mounted
over that very folder, so what it held (segments acknowledged but not yet loaded, and ``loaded/``) would be
hidden from the loader. airflow-init sees the old folder through a second mount of the data volume and runs
this first (docs/production.md, "Upgrading").

A segment an earlier receiver was killed while writing (``.jsonl.open``) is sealed first, as a receiver does at
start (cdr.sources.voicenter.staging). Each file is then copied under a hidden name that no loader's glob sees (created
0640 in the data directory's group, folders 0750, as cdr.access makes every file there, whatever mode an older
release gave the original), synced, renamed into place, and only then removed from the old folder. Killed at
any point and run again it finishes the move: a file already in place is the whole file (the rename came after
the sync), so its old copy is only removed; segment names are unique, so a name in both places is one segment.
The loader reads only the new folder, so it never sees a segment twice or half of one.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from cdr.access import FILE_MODE, create_file, ensure_dir
from cdr.fsutil import fsync_dir, publish
from cdr.sources.voicenter.staging import seal_leftovers

log = logging.getLogger(__name__)

PARTIAL = ".relocating"  # suffix of a copy not yet in place; a hidden name, so no glob of the loader's sees it


def relocate(old: Path, new: Path) -> int:
    """Move every file under ``old`` to the same place under ``new``; return how many were moved."""
    ensure_dir(new)
    # The same folder seen twice (the volume not mounted over it): every file would be "already in place" and
    # then removed.
    if not old.is_dir() or os.path.samefile(old, new):
        return 0
    seal_leftovers(old)
    moved = 0
    for source in sorted(p for p in old.rglob("*") if p.is_file()):
        target = new / source.relative_to(old)
        if not target.exists():
            ensure_dir(target.parent)
            partial = target.with_name(f".{target.name}{PARTIAL}")
            partial.unlink(missing_ok=True)  # an earlier run's, killed while copying
            with open(source, "rb") as reader, open(create_file(partial, FILE_MODE), "wb") as writer:
                shutil.copyfileobj(reader, writer)
            publish(partial, target)
        source.unlink()
        fsync_dir(source.parent)
        moved += 1
    for partial in new.rglob(f"*{PARTIAL}"):  # a copy an earlier run was killed while making
        partial.unlink()
    if moved:
        log.info("Voicenter: moved %d staged file(s) from %s into %s", moved, old, new)
    return moved


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    old, new = (Path(a) for a in (argv if argv is not None else sys.argv[1:]))
    relocate(old, new)


if __name__ == "__main__":
    main()
