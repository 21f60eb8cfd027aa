"""Who may read what the pipeline writes: files that hold phone numbers are never world-readable.

Everything under ``CDR_DATA_DIR`` (and a local lake elsewhere, ``CDR_LAKE_URL``) is created mode 0640 in folders
0750, owned by the process's user and a group the operator names: ``CDR_FILE_GROUP`` (a group name or gid; unset,
the process's own group). Folders carry the setgid bit, so what other programs create in them (dbt's artefacts,
DuckDB's files) gets their group too, and the warehouse build runs under a umask of 027 (``private_umask``), so
those programs create nothing wider than 0640/0750 either. A umask alone would not do: the publish links and renames
files it made in other folders, and a deployment may run with any umask, so the files the pipeline makes itself are
created with their mode and group (``create_file``, ``ensure_dir``) before a byte is written.

``CDR_MASKED_GROUP`` (default: ``CDR_FILE_GROUP``) is the group of what holds no number: ``warehouse_masked.duckdb``,
the report when it is masked (``CDR_REPORT_MASK_NUMBERS``) and the model's documentation (``docs/``). So that its
members can reach those files, the folders above them under ``CDR_DATA_DIR`` belong to that group (0750, no setgid:
nothing else inherits it); everything else stays in ``CDR_FILE_GROUP``, so a member of the masked group sees the
names in those folders but can open only its own files.

The published databases keep what an operator gives them: a publish gives the new ``warehouse.duckdb`` the mode
and group of the file it replaces (``like``), less any permission for others on a file that holds numbers.
``build/number.salt`` is 0600.

``.venv/bin/python -m cdr.access`` lists what under the data directory (and a local lake elsewhere) others may
read, write or enter; ``--fix`` narrows it: once, after an upgrade from a release that wrote 0644 files. (A changed
``CDR_FILE_GROUP`` applies to what is written from then on; ``chgrp -R`` gives it to what exists.)
"""

from __future__ import annotations

import argparse
import grp
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cdr import config
from cdr.settings import settings

log = logging.getLogger(__name__)

FILE_MODE = 0o640
DIR_MODE = 0o750 | stat.S_ISGID
SECRET_MODE = 0o600
UMASK = 0o027
# What a publish never carries over from the file it replaces, on a file that holds numbers: any access by others.
OTHERS = 0o007


def resolve_group(setting: str) -> int | None:
    """The gid a setting (``CDR_FILE_GROUP``, ``CDR_MASKED_GROUP``) names (a group name, or a number), or None when
    it is unset."""
    value = str(getattr(settings(), setting.removeprefix("CDR_").lower())).strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise ValueError(f"{setting}={value!r}: no such group on this machine") from None


def file_group() -> int | None:
    """``CDR_FILE_GROUP``: the group of everything under the data directory; None: the process's own."""
    return resolve_group("CDR_FILE_GROUP")


def masked_group() -> int | None:
    """``CDR_MASKED_GROUP``, else ``CDR_FILE_GROUP``: the group of what holds no number."""
    return resolve_group("CDR_MASKED_GROUP") or file_group()


def _group(group: int | None) -> int | None:
    return file_group() if group is None else group


def set_access(target: Path | int, mode: int, group: int | None = None) -> None:
    """Give a path or an open descriptor ``mode`` and ``group`` (None: CDR_FILE_GROUP, if set). The group first:
    changing it clears a setgid bit, which the mode then sets again."""
    gid = _group(group)
    if isinstance(target, int):
        if gid is not None and os.fstat(target).st_gid != gid:
            os.fchown(target, -1, gid)
        os.fchmod(target, mode)
        return
    if gid is not None and os.stat(target).st_gid != gid:
        os.chown(target, -1, gid)
    os.chmod(target, mode)


def ensure_dir(path: Path, group: int | None = None) -> Path:
    """``path`` and every missing folder above it, each created 0750 with the setgid bit and ``group``
    (None: CDR_FILE_GROUP). Folders that exist are left as they are."""
    missing = []
    at = Path(path)
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # made meanwhile by another process, with its own settings
        set_access(folder, DIR_MODE, group)
    return Path(path)


def create_file(path: Path, mode: int = FILE_MODE, group: int | None = None) -> int:
    """A new file at ``path`` (which must not exist), open for writing, with ``mode`` and ``group`` set before
    anything is written, whatever the umask. Returns its descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        set_access(fd, mode, group)
    except BaseException:
        os.close(fd)
        raise
    return fd


def touch(path: Path, mode: int = FILE_MODE, group: int | None = None) -> Path:
    """An empty file made as ``create_file`` makes it, for a library that opens the path itself (pyarrow keeps the
    mode of a file it overwrites)."""
    os.close(create_file(path, mode, group))
    return path


def like(reference: Path, *, holds_numbers: bool, group: int | None = None) -> tuple[int, int | None]:
    """The mode and group for a file that replaces ``reference``: the reference's own, so that an operator's chmod
    or chgrp of a published file outlives the next publish (less access by others, if the file holds numbers);
    ``FILE_MODE`` and ``group`` (None: CDR_FILE_GROUP) when there is none yet."""
    try:
        st = os.stat(reference)
    except FileNotFoundError:
        return FILE_MODE, _group(group)
    mode = stat.S_IMODE(st.st_mode) & 0o777
    return (mode & ~OTHERS if holds_numbers else mode), st.st_gid


def give(path: Path, mode: int, group: int | None) -> None:
    """``set_access``, but a group the process may not give (an operator's choice of a group this user is not in)
    is kept as the file's group allows, with a warning, rather than failing a publish."""
    try:
        set_access(path, mode, group)
    except PermissionError:
        log.warning(
            "%s: cannot give it group %s (this user is not a member); it keeps group %s",
            path.name,
            group,
            os.stat(path).st_gid,
        )
        os.chmod(path, mode)


def reach(path: Path) -> None:
    """Let ``CDR_MASKED_GROUP`` reach ``path`` (a folder under the data directory): ``path`` and the folders between
    it and the data directory, that one included, get that group (0750, no setgid, so that nothing created in them
    inherits it). Nothing to do while CDR_MASKED_GROUP is unset."""
    gid = resolve_group("CDR_MASKED_GROUP")
    if gid is None or gid == file_group():
        return
    root = config.data_dir()
    at = Path(path)
    chain = [at]
    if at.is_relative_to(root):
        while at != root:
            at = at.parent
            chain.append(at)
    for folder in chain:
        set_access(folder, 0o750, gid)


@contextmanager
def private_umask() -> Iterator[None]:
    """Run the block under a umask of at least 027: what DuckDB, pyarrow or dbt (a child process inherits it)
    create in it is at most 0640, folders 0750. The umask is the process's: a file another thread creates meanwhile
    is made no wider either."""
    previous = os.umask(UMASK)
    os.umask(previous | UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def restrict_umask() -> None:
    """``private_umask`` for the rest of the process (a command that runs the whole pipeline, e.g. the demo)."""
    previous = os.umask(UMASK)
    os.umask(previous | UMASK)


def too_wide(root: Path) -> Iterator[tuple[Path, int, int]]:
    """Every file or folder under ``root`` (itself included) that others may read, write or enter, or that is
    group-writable, with its mode and gid. Symbolic links are not followed."""
    for folder, dirs, files in os.walk(root):
        for name in [None, *files]:
            path = Path(folder) if name is None else Path(folder) / name
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & (OTHERS | 0o020):
                yield path, stat.S_IMODE(st.st_mode), st.st_gid
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]


def fix(root: Path) -> int:
    """Narrow what ``too_wide`` finds: folders to 0750 with setgid, files to 0640 (0600 stays), group
    CDR_FILE_GROUP where it is set. Returns how many paths were changed."""
    changed = 0
    for path, mode, _ in list(too_wide(root)):
        if path.is_dir():
            set_access(path, DIR_MODE, None)
        else:
            set_access(path, mode & ~(OTHERS | 0o020), None)
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="List (or, with --fix, narrow) what others may read under the data directory and a local lake."
    )
    parser.add_argument("--fix", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    roots = [config.data_dir()]
    if not config.lake_on_object_store() and not config.lake_dir().is_relative_to(config.data_dir()):
        roots.append(config.lake_dir())
    for root in roots:
        if not root.exists():
            continue
        if args.fix:
            log.info("%s: narrowed %d paths", root, fix(root))
        else:
            for path, mode, gid in too_wide(root):
                log.info("%s %o group %d", path, mode, gid)


if __name__ == "__main__":
    main()
