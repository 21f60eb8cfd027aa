"""Run a process the way docker-compose.yaml runs its service, without Docker (which this machine lacks).

The process gets a mount namespace of its own in which every filesystem is read-only (`read_only: true`), a
fresh tmpfs on /tmp (the services' `tmpfs`), and a tree standing for the container's own files (the image's
folders under /opt/cdr, themselves read-only) with the service's volumes bound onto it, read-write, at the
paths the compose file gives them; then it runs with no capabilities at all (`cap_drop: [ALL]`) and with
no_new_privs set (`no-new-privileges:true`). Volumes are host folders, one per named volume, so that two
"containers" given the same volume share it as Docker's would. What it does not stand for: the user (the
process stays uid 0, without any capability to use it: the test machine's Python lives under /root), the
network (the host's loopback, unless a container asks for a namespace of its own) and the memory and pid limits
(measured instead, see ``Usage``).

Needs root, ``unshare``, ``findmnt`` and ``setpriv`` (util-linux); ``unavailable()`` says why not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

# $1: the container tree's mount point; $2: the working directory in it (or ""); $3: the checkout, when it is
# under /tmp (or ""); then host folder / path pairs up to "--"; then the command.
_SETUP = r"""
set -eu
tree=$1; workdir=$2; keep=$3; shift 3
if [ -n "${CONFINED_NETWORK:-}" ]; then ip link set lo up; fi
mount -t tmpfs -o mode=0755 container "$tree"
while [ "$1" != -- ]; do
    mkdir -p "$tree$2"
    mount --bind "$1" "$tree$2"
    shift 2
done
shift
if [ -n "$keep" ]; then
    # The checkout lives under /tmp, which the fresh tmpfs below hides: held at a path of the tree first, then
    # put back where it was, read-only as an image's files are.
    mkdir -p "$tree/.checkout"
    mount --bind "$keep" "$tree/.checkout"
fi
findmnt -rno TARGET | while read -r point; do
    case "$point" in
        /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$tree"|"$tree"/*) ;;
        *) mount -o remount,bind,ro "$point" ;;
    esac
done
mount -o remount,ro "$tree"
if [ -n "$keep" ]; then mount -o remount,bind,ro "$tree/.checkout"; fi
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    mount --bind "$tree/.checkout" "$keep"
    mount -o remount,bind,ro "$keep"
fi
if [ -n "$workdir" ]; then cd "$tree$workdir"; fi
unset CONFINED_NETWORK
exec setpriv --no-new-privs --bounding-set=-all --inh-caps=-all -- "$@"
"""


def _under_tmp(path: Path) -> bool:
    return path.resolve().is_relative_to("/tmp")


def has_own_network(pid: int) -> bool:
    """Whether process ``pid`` is in a network namespace other than this one's (a ``network=True`` container
    once unshare has made it)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    except OSError:
        return False


def unavailable() -> str | None:
    """Why processes cannot be confined here, or None."""
    if os.geteuid() != 0:
        return "confining a process to a read-only mount namespace needs root"
    missing = [tool for tool in ("unshare", "findmnt", "setpriv") if shutil.which(tool) is None]
    if missing:
        return f"util-linux tools missing: {', '.join(missing)}"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode:
        return f"unshare --mount fails here: {probe.stderr.strip()}"
    return None


class Container:
    """One container's view: ``path(p)`` is where its path ``p`` is seen from inside (and, for a volume, the
    host folder behind it is ``volumes[p]``)."""

    def __init__(self, volumes: dict[str, Path], *, workdir: str = "", network: bool = False):
        """``network``: a network namespace of its own (its own loopback, so its ports are free), as a
        container on the compose network has; without it, the host's loopback."""
        # Outside /tmp: the tmpfs mounted on /tmp inside would hide it (a checkout under /tmp is put back).
        base = Path("/var/tmp/cdr-confined") if _under_tmp(ROOT) else ROOT / "build"
        self.tree = base / f"container-{uuid.uuid4().hex[:12]}"
        self.volumes, self.workdir, self.network = volumes, workdir, network

    def path(self, inside: str) -> str:
        return f"{self.tree}{inside}"

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` confined to this container (its tree's mount point is made here)."""
        self.tree.mkdir(parents=True, exist_ok=True)
        binds: list[str] = []
        # Parents first, so a volume mounted inside another (landing/voicenter in cdr-data) lands on top of it.
        for inside, host in sorted(self.volumes.items(), key=lambda item: item[0].count("/")):
            binds += [str(host), inside]
        namespaces = ["--mount", "--propagation", "private", *(["--net"] if self.network else [])]
        keep = str(ROOT) if _under_tmp(ROOT) else ""
        setup = ["sh", "-c", _SETUP, "confined", str(self.tree), self.workdir, keep]
        return ["unshare", *namespaces, *setup, *binds, "--", *argv]

    def _env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "CONFINED_NETWORK": "1"} if self.network else env

    def popen(self, argv: list[str], env: dict[str, str], log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(
                self.command(argv),
                env=self._env(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )

    def run(self, argv: list[str], env: dict[str, str], log: Path, timeout: float = 600) -> str:
        """Run to the end; the output, or AssertionError with its tail."""
        # A session of its own: no controlling terminal, as in a container (getpass then reads stdin).
        result = subprocess.run(
            self.command(argv),
            env=self._env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
        output = result.stdout + result.stderr
        log.write_text(output)
        assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n" + "\n".join(output.splitlines()[-40:])
        return output

    def remove(self) -> None:
        """The tree's mount point (the tmpfs and the binds were in the process's namespace only)."""
        shutil.rmtree(self.tree, ignore_errors=True)


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@dataclass
class Usage:
    """The peak memory and the peak number of tasks (threads, which is what `pids_limit` counts) of a process
    tree, sampled until ``stop``. Memory is PSS summed over the tree: a page shared by several processes (the
    LocalExecutor's forked workers share most of theirs) counts once in all, as in the container's memory
    cgroup, where summed RSS would count it in each."""

    root: int
    interval: float = 0.2
    peak_memory: int = 0
    peak_tasks: int = 0
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        parent = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(parent, []).append(int(entry))
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += children.get(pid, [])
        return tree

    def _sample(self) -> None:
        while not self._done.is_set():
            memory = tasks = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        threads = next(line for line in fh if line.startswith("Threads:"))
                    with open(f"/proc/{pid}/smaps_rollup") as fh:
                        pss = next(line for line in fh if line.startswith("Pss:"))
                except (OSError, StopIteration):
                    continue
                memory += int(pss.split()[1]) * 1024
                tasks += int(threads.split()[1])
            self.peak_memory, self.peak_tasks = max(self.peak_memory, memory), max(self.peak_tasks, tasks)
            time.sleep(self.interval)

    def stop(self) -> Usage:
        self._done.set()
        self._thread.join()
        return self
