"""Storage faults injected into a real `cdr-receiver` process (run by tests/integration/test_voicenter_storage.py):
while the file ``fsync`` exists in the folder ``CDR_TEST_FAULTS`` names, every fsync and fdatasync fails with EIO;
while ``rename`` exists, renaming a segment to its sealed name fails with EIO. The test creates and removes the
files to switch a fault on and off; everything else is the product's own code.

Run: python -c "import voicenter_faults; voicenter_faults.main()" (with this folder on sys.path)."""

from __future__ import annotations

import errno
import os

FAULTS = os.environ["CDR_TEST_FAULTS"]
_fsync, _fdatasync, _replace = os.fsync, os.fdatasync, os.replace


def _on(name: str) -> bool:
    return os.path.exists(os.path.join(FAULTS, name))


def fsync(fd):
    if _on("fsync"):
        raise OSError(errno.EIO, "injected fsync failure")
    return _fsync(fd)


def fdatasync(fd):
    if _on("fsync"):
        raise OSError(errno.EIO, "injected fsync failure")
    return _fdatasync(fd)


def replace(src, dst, **kwargs):
    if str(dst).endswith(".jsonl") and _on("rename"):
        raise OSError(errno.EIO, "injected rename failure")
    return _replace(src, dst, **kwargs)


def main() -> None:
    os.fsync, os.fdatasync, os.replace = fsync, fdatasync, replace
    from cdr.sources.voicenter.receiver import main as receiver

    receiver()
