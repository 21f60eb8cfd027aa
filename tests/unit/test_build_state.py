"""The build's state: one file, replaced whole, read back as it was saved; private like everything in build/."""

from __future__ import annotations

import json
import stat

from cdr.warehouse.build import BuildState


def test_no_state_is_an_empty_one_and_a_saved_state_reads_back(data_dir):
    assert BuildState.load() == BuildState()
    saved = BuildState(
        project="f" * 64,
        tested_through="2026-11-20 10:00:00+00",
        lineage="L1",
        docs_project="d" * 64,
        last_cycle={"mode": "full", "steps": {"total": 1.5}, "nodes": {"build": {"model.cdr.fct_cdr": "success"}}},
    )
    saved.save()
    assert BuildState.load() == saved
    assert json.loads(BuildState.path().read_text())["lineage"] == "L1"
    assert stat.S_IMODE(BuildState.path().stat().st_mode) & 0o007 == 0  # never readable by others
    assert [p.name for p in BuildState.path().parent.iterdir()] == ["state.json"]  # no temporary left


def test_a_state_from_another_release_keeps_what_it_knows(data_dir):
    """A field this release does not know is ignored and a field it lacks takes its default: an upgrade (or a
    downgrade) reads the state instead of failing the build."""
    BuildState.path().parent.mkdir(parents=True)
    BuildState.path().write_text(json.dumps({"project": "abc", "retired_field": 1}))
    assert BuildState.load() == BuildState(project="abc")
