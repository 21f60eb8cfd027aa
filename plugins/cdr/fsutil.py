"""Durable file operations: what a reader sees is either the old file or the complete new one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


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
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, final)
    fsync_dir(final.parent)


def atomic_write_bytes(final: Path, data: bytes) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(final)
    try:
        with open(temp, "wb") as fh:
            fh.write(data)
        publish(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final
