"""The move of what the receiver staged into its own volume (cdr.sources.voicenter.relocate), run by airflow-init on the
upgrade to the compose file that gives the receiver that volume: nothing lost, nothing doubled, killed or not."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from cdr.sources.voicenter.relocate import PARTIAL, relocate
from cdr.sources.voicenter.staging import OPEN_SUFFIX

KILLS = 6


def line(n: int) -> bytes:
    return json.dumps({"cdr": {"ivruniqueid": f"VC-{n}", "pad": "x" * 200}}).encode() + b"\n"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def earlier_layout(old: Path, segments: int = 3) -> dict[str, bytes]:
    """What an earlier receiver and loader leave in landing/voicenter/; returns what must arrive."""
    (old / "loaded").mkdir(parents=True)
    expected = {}
    for i in range(segments):
        name = f"20261206T00000{i}-{i:012x}.jsonl"
        (old / name).write_bytes(line(i))
        expected[name] = line(i)
    (old / "loaded" / "20261205T000000-aaaaaaaaaaaa.jsonl").write_bytes(line(100))
    expected["loaded/20261205T000000-aaaaaaaaaaaa.jsonl"] = line(100)
    # A receiver killed while writing: two acknowledged lines, half of an unacknowledged one, the zeros ahead.
    (old / f"20261206T000009-bbbbbbbbbbbb{OPEN_SUFFIX}").write_bytes(line(7) + line(8) + b'{"cdr": {"ivr' + bytes(512))
    expected["20261206T000009-bbbbbbbbbbbb.jsonl"] = line(7) + line(8)
    return expected


def test_every_file_moves_and_a_segment_left_open_is_sealed_as_the_receiver_would(tmp_path):
    old, new = tmp_path / "data-volume" / "landing" / "voicenter", tmp_path / "landing-volume"
    expected = earlier_layout(old)
    os.chmod(old / "loaded" / "20261205T000000-aaaaaaaaaaaa.jsonl", 0o644)  # as a release before cdr.access wrote

    assert relocate(old, new) == len(expected)

    assert files(new) == expected
    assert files(old) == {}
    # Each file 0640 and each new folder 0750 (setgid), whatever the original's mode: phone numbers inside.
    assert {p.stat().st_mode & 0o777 for p in new.rglob("*") if p.is_file()} == {0o640}
    assert (new / "loaded").stat().st_mode & 0o7777 == 0o2750
    assert relocate(old, new) == 0 and files(new) == expected  # again: nothing left to do, nothing changed


def test_a_run_killed_after_copying_removes_the_original_and_its_own_half_copy_on_the_next(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    expected = earlier_layout(old)
    new.mkdir()
    # Killed after one file was in place but before its original was removed, and while copying another.
    done = "20261206T000000-000000000000.jsonl"
    (new / done).write_bytes(expected[done])
    (new / f".20261206T000001-000000000001.jsonl{PARTIAL}").write_bytes(
        expected["20261206T000001-000000000001.jsonl"][:9]
    )

    relocate(old, new)

    assert files(new) == expected and files(old) == {}


def test_the_same_folder_seen_twice_is_left_as_it_is(tmp_path):
    """The volume not mounted over the old folder: both paths are one folder, and nothing may be removed."""
    old = tmp_path / "landing"
    earlier_layout(old)
    before = files(old)
    alias = tmp_path / "alias"
    alias.symlink_to(old)

    assert relocate(old, alias) == 0
    assert files(old) == before


def test_killed_at_any_moment_and_run_again_every_file_arrives_once_and_whole(tmp_path):
    """SIGKILL at a random moment of the move, in a real process, then the next airflow-init's run."""
    script = (
        "import sys; from pathlib import Path; from cdr.sources.voicenter.relocate import relocate; "
        "print('ready', flush=True); relocate(Path(sys.argv[1]), Path(sys.argv[2]))"
    )

    def start(old: Path, new: Path) -> tuple[subprocess.Popen, float]:
        process = subprocess.Popen([sys.executable, "-c", script, old, new], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        return process, time.monotonic()

    def layout(root: Path) -> tuple[Path, Path, dict[str, bytes]]:
        old, new = root / "old", root / "new"
        expected = earlier_layout(old, segments=100)
        return old, new, expected

    # How long a whole move takes here, to kill within it.
    old, new, expected = layout(tmp_path / "timed")
    process, started = start(old, new)
    assert process.wait(timeout=120) == 0
    span = time.monotonic() - started
    assert files(new) == expected

    rng = random.Random(29)
    halfway = 0
    for attempt in range(KILLS):
        old, new, expected = layout(tmp_path / f"killed-{attempt}")
        process, _ = start(old, new)
        time.sleep(rng.uniform(0, span))
        process.kill()
        process.wait()
        halfway += bool(files(old)) and new.exists() and bool(files(new))

        relocate(old, new)

        assert files(new) == expected, attempt
        assert files(old) == {}, attempt
    assert halfway, "no kill landed in the middle of a move"
