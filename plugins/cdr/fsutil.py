"""Durable file operations: what a reader sees is either the old file or the complete new one.

Files are created with their mode and group before anything is written in them (cdr.access): a reader who may not
read the final file never could read its temporary either.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from cdr.access import FILE_MODE, create_file, ensure_dir


def fsync_file(path: Path) -> None:
    """Put ``path``'s written bytes on disk (a file written by another library, or closed before its rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` survive a crash (POSIX needs the directory itself synced)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(final: Path) -> Path:
    """A sibling temporary name: same filesystem, so the final rename is atomic; dot-prefixed, so no glob sees it."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")


def publish(temp: Path, final: Path) -> None:
    """fsync ``temp``, then atomically rename it over ``final``, then fsync the directory."""
    fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)


def atomic_write_bytes(final: Path, data: bytes, mode: int = FILE_MODE, group: int | None = None) -> Path:
    """``data`` as ``final``, whole or not at all, with ``mode`` and ``group`` (None: CDR_FILE_GROUP)."""
    ensure_dir(final.parent)
    temp = temp_path_for(final)
    try:
        with open(create_file(temp, mode, group), "wb") as fh:
            fh.write(data)
        publish(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final


def publish_dir(temp: Path, final: Path) -> None:
    """Put a fully written directory in place of ``final`` (a report day): its files are fsynced first, then
    the old directory is renamed aside, the new one renamed in, and the old one deleted. A reader never sees a
    half-written directory; for the instant between the two renames it sees none."""
    for path in temp.iterdir():
        fsync_file(path)
    fsync_dir(temp)
    old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old") if final.exists() else None
    if old is not None:
        os.replace(final, old)
    os.replace(temp, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old)
