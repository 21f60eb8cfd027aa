"""One warehouse cycle, as a plan and its steps: plan what dbt must build, run dbt, record what was built, publish
it (the file or the DuckLake), its masked copy, and the model's documentation; one cycle at a time.

Builds are incremental while the project is the one the last successful build ran (``project_fingerprint``):
only what reached the lake since is read, and tested. What one cycle leaves the next is a ``BuildState``, one
file (``build/state.json``) replaced whole; the lock is the build folder itself.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb

from cdr import access, config
from cdr.fsutil import atomic_write_bytes
from cdr.lake.writer import ensure_schema_file
from cdr.registry import lake_tables
from cdr.settings import settings
from cdr.warehouse import ducklake
from cdr.warehouse.dbt_runner import DbtError, run_dbt_batch
from cdr.warehouse.duckfile import scalar
from cdr.warehouse.masking import publish_masked
from cdr.warehouse.publish import incremental_keys, lake_lookback_hours, publish_docs, publish_warehouse

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass
class BuildState:
    """What a cycle leaves the next one. Saved whole and atomically, after the build (``project``,
    ``tested_through``, ``lineage``) and at the end of the cycle (``docs_project``, ``last_cycle``): a cycle killed
    between the two publishes again, from the same lineage, what the build it recorded made."""

    # fingerprint of the project the last successful build ran: equal to the current one, a build is incremental
    project: str | None = None
    # newest extracted_at of fct_cdr after the last build whose data tests all passed: the next incremental
    # build's tests check the rows since (less the lake's lookback)
    tested_through: str | None = None
    # id of the full build the build database descends from by incremental builds: a published copy of the same
    # lineage is brought up to date by what changed
    lineage: str | None = None
    # the project the published documentation was generated from
    docs_project: str | None = None
    # the last finished cycle: mode, dbt arguments, each step's seconds, target, each dbt node's outcome
    last_cycle: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def path() -> Path:
        return config.build_dir() / STATE_FILE

    @classmethod
    def load(cls) -> BuildState:
        """The state the last cycle saved; an empty one (the next build is full) when there is none."""
        path = cls.path()
        if not path.exists():
            return cls()
        saved = json.loads(path.read_text())
        return cls(**{f.name: saved[f.name] for f in dataclasses.fields(cls) if f.name in saved})

    def save(self) -> None:
        atomic_write_bytes(self.path(), json.dumps(dataclasses.asdict(self), indent=1).encode())


@contextmanager
def build_lock(timeout: float = 3600.0) -> Iterator[None]:
    """One build at a time: an flock on the build folder, which dies with its process, so a killed build never
    leaves a stale lock (and no lock file is left beside the build)."""
    folder = config.build_dir()
    access.ensure_dir(folder)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another warehouse build held {folder} for {timeout:.0f}s") from None
                log.info("waiting for another warehouse build to finish")
                time.sleep(min(5.0, max(0.05, deadline - time.monotonic())))
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# What new data changes: the fact and everything built from it, every other mart table (a mart may read the
# views over the lake without the fact, as agg_voicenter_reconciliation does; the rest are small) and every other
# incremental table (int_voicenter__cdr_versions). The views and the seeds change only with the project's code.
# Data tests all run: those of the views check the new records.
DATA_MODELS = ("fct_cdr+", "path:models/marts", "config.materialized:incremental")
DATA_SELECTION = (*DATA_MODELS, "resource_type:test")
# dbt's unit tests read no data, only the rows written in their YAML: their answer changes with the code, never with
# a build, so no cycle runs them (as dbt advises: in development and CI, not in production). `make test` runs them
# (tests/e2e/test_dbt_unit_tests.py), and after a change to a model so does
# `dbt test --select test_type:unit` by hand (docs/development.md).
UNIT_TESTS = ("resource_type:unit_test",)
# Tests an incremental build whose tests check only the changed rows leaves to the full and nightly builds: those
# of the intermediate views (tag in dbt_project.yml). A view's window over the whole lake runs before any filter,
# so such a test reads every leg ever pulled (80 of the 110 s of a build at 10M legs), while fct_cdr's own tests
# on the rows this build wrote prove the same of the new rows.
PROVED_DOWNSTREAM = ("tag:proved_downstream",)


def project_fingerprint() -> str:
    """What the build's views, seeds and static tables are made from: the dbt project, the phone functions it
    calls, the lake's location and the versions of dbt and DuckDB. Equal fingerprints, equal relations."""
    import hashlib

    import dbt.version

    digest = hashlib.sha256()
    files = [
        p
        for p in sorted(config.DBT_PROJECT_DIR.rglob("*"))
        if p.is_file()
        and not p.name.startswith(".")
        and not {"target", "logs", "dbt_packages"} & set(p.relative_to(config.DBT_PROJECT_DIR).parts)
    ]
    for path in [
        *files,
        config.PROJECT_ROOT / "plugins" / "cdr" / "phones.py",
        config.PROJECT_ROOT / "plugins" / "cdr" / "warehouse" / "dbt_plugin.py",
    ]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"{config.data_dir()}|{dbt.version.__version__}|{duckdb.__version__}".encode())
    if settings().lake_url:
        digest.update(config.lake_url().encode())
    # The call centre's clock (macros/local_time.sql): a changed zone re-dates every leg, not only the new ones.
    digest.update(repr(sorted(settings().site_timezones().items())).encode())
    return digest.hexdigest()


def tested_mark() -> str | None:
    """The newest ``extracted_at`` of fct_cdr after the last build whose data tests all passed (None: unknown)."""
    return BuildState.load().tested_through or None


def dbt_build_arguments(
    full_refresh: bool = False, full_tests: bool = False, state: BuildState | None = None
) -> list[str]:
    """``dbt build`` of only what new data changes (the incremental fact and what depends on it) while the project is
    the one the last successful build ran; otherwise (first build, changed code, or on request) of everything
    from the whole lake, so that a changed rule applies to every leg, not only to new ones.

    An incremental build's data tests check only the rows read since the last build whose tests passed (the var
    ``tests_changed_since``; see dbt_project/macros/incremental_tests.sql), where that proves the same as
    checking every row; a full build checks every row, less the tests that fct_cdr's prove of every leg it
    holds (PROVED_DOWNSTREAM: at 10M legs they were a sixth of a full build, each reading the whole lake again);
    ``full_tests`` runs every test on every row."""
    state = state or BuildState.load()
    if not full_refresh and state.project == project_fingerprint() and (config.build_dir() / "build.duckdb").exists():
        mark = None if full_tests else state.tested_through
        if not mark:
            return ["build", "--select", *DATA_SELECTION, "--exclude", *UNIT_TESTS]
        return [
            "build",
            "--select",
            *DATA_SELECTION,
            "--exclude",
            *UNIT_TESTS,
            *PROVED_DOWNSTREAM,
            "--vars",
            json.dumps({"tests_changed_since": mark}),
        ]
    full = ["build", "--full-refresh", "--exclude", *UNIT_TESTS]
    return full if full_tests else [*full, *PROVED_DOWNSTREAM]


@dataclass(frozen=True)
class Plan:
    """What one cycle runs: dbt's arguments (its vars apart: every command gets them), and what becomes of the
    model's documentation: ``generate`` it, or not, as it is ``current`` (generated from this very project) or
    ``off`` (CDR_WAREHOUSE_DOCS)."""

    project: str
    arguments: list[str]
    build_args: list[str]
    dbt_vars: dict[str, Any] | None
    docs: Literal["generate", "current", "off"]

    @property
    def incremental(self) -> bool:
        return "--full-refresh" not in self.arguments

    @property
    def commands(self) -> list[tuple[list[str], bool]]:
        """The build must pass; a stale source only warns; docs that fail to generate must not hold back a
        published build, so that is raised after the publish."""
        commands = [(self.build_args, True), (["source", "freshness"], False)]
        return [*commands, (["docs", "generate"], False)] if self.docs == "generate" else commands


def plan(state: BuildState, full_refresh: bool, full_tests: bool) -> Plan:
    for source, schema in lake_tables().items():
        ensure_schema_file(source, schema)
    project = project_fingerprint()
    arguments = dbt_build_arguments(full_refresh, full_tests, state)
    build_args, dbt_vars = arguments, None
    if "--vars" in arguments:
        at = arguments.index("--vars")
        build_args, dbt_vars = [*arguments[:at], *arguments[at + 2 :]], json.loads(arguments[at + 1])
    # Docs describe the relations, not their rows (names, types, descriptions): they change only with the project.
    current = (
        "--full-refresh" not in arguments
        and state.docs_project == project
        and (config.docs_dir() / "index.html").exists()
    )
    docs: Literal["generate", "current", "off"] = (
        "off" if not settings().warehouse_docs else "current" if current else "generate"
    )
    return Plan(project, arguments, build_args, dbt_vars, docs)


def run_dbt(plan: Plan, steps: dict[str, float]) -> dict[str, Any]:
    """The plan's dbt commands in one process; each command's own time into ``steps``, and each node's outcome
    into the log (one line per command, and one per node that did not succeed)."""
    ran = run_dbt_batch(plan.commands, plan.dbt_vars)
    steps["dbt parse"] = ran["parse"]
    for name, seconds in zip(("dbt build", "freshness", "docs generate"), ran["seconds"], strict=False):
        steps[name] = seconds
    for (args, _), nodes in zip(plan.commands, ran.get("nodes", []), strict=False):
        by_status: dict[str, int] = {}
        for status in nodes.values():
            by_status[status] = by_status.get(status, 0) + 1
        log.info(
            "dbt %s: %d node(s): %s", args[0], len(nodes), ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
        )
        for node, status in nodes.items():
            if status not in ("success", "pass", "no-op"):
                log.warning("dbt %s: %s %s", args[0], node, status)
    return ran


def record(state: BuildState, plan: Plan) -> None:
    """After a successful build only: a failed one leaves the next build to make everything again that this one
    would have, and to test every row its failed tests saw."""
    with duckdb.connect(str(config.build_dir() / "build.duckdb"), read_only=True) as con:
        newest = scalar(con, "select max(extracted_at)::varchar from marts.fct_cdr")
    state.project = plan.project
    state.tested_through = newest
    if not plan.incremental or not state.lineage:
        state.lineage = uuid.uuid4().hex
    state.save()


def publish(lineage: str) -> tuple[dict[str, int], int | None]:
    """The build's marts to the analysts: one DuckLake snapshot where one is configured, else warehouse.duckdb.
    Returns each table's rows and the snapshot."""
    if ducklake.enabled():
        published = ducklake.publish(
            config.build_dir() / "build.duckdb",
            lineage=lineage,
            keys=incremental_keys(),
            lookback_hours=lake_lookback_hours(),
        )
        return published["counts"], published["snapshot"]
    return publish_warehouse(lineage=lineage), None


def mask(lineage: str) -> None:
    publish_masked(lineage=lineage, keys=incremental_keys(), lookback_hours=lake_lookback_hours())


def docs(state: BuildState, plan: Plan, exit_code: int | None) -> bool:
    """The model's documentation beside the warehouse, when this cycle generated it. True when published."""
    if plan.docs == "off":
        log.info("docs not generated: CDR_WAREHOUSE_DOCS is off")
        return False
    if plan.docs == "current":
        log.info("docs unchanged: the project is the one %s was generated from", config.docs_dir() / "index.html")
        return False
    if exit_code != 0:
        raise DbtError(f"dbt docs generate failed (exit {exit_code}); the warehouse was published (see above)")
    publish_docs()
    state.docs_project = plan.project
    return True


def build_and_publish(full_refresh: bool = False, full_tests: bool = False) -> dict[str, Any]:
    """``dbt build`` (models and tests), a freshness check that only warns, publish, the masked copy, the docs.

    Builds are incremental (only what reached the lake since the last build is read, and tested); ``full_refresh``
    rebuilds every model from the whole lake, for when a model's logic changed; ``full_tests`` tests every row
    (the nightly check: ``.venv/bin/python -c "from cdr.warehouse.build import build_and_publish;
    build_and_publish(full_tests=True)"``, or ``dbt test`` by hand). After an incremental build, the published
    copies are updated by what changed. Returns the cycle: ``counts`` (each published table's rows), ``mode``,
    ``steps`` (seconds), ``nodes`` (each dbt node's outcome, by command); the same is saved in the BuildState.
    """
    steps: dict[str, float] = {}
    # What dbt and DuckDB create (build.duckdb, dbt's artefacts, a DuckLake's files) is at most 0640/0750, in the
    # group of the folders made for it (cdr.access).
    with access.private_umask(), build_lock():
        began = clock = time.perf_counter()

        def step(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            steps[name] = round(now - clock, 3)
            clock = now

        state = BuildState.load()
        cycle = plan(state, full_refresh, full_tests)
        step("prepare")
        ran = run_dbt(cycle, steps)
        clock = time.perf_counter()
        record(state, cycle)
        step("record")
        if ran["exit"][1] != 0:
            log.warning("dbt source freshness reports a stale source (see above); the build is published anyway")
        assert state.lineage is not None
        counts, snapshot = publish(state.lineage)
        step("publish")
        mask(state.lineage)
        step("publish masked")
        if docs(state, cycle, ran["exit"][2] if cycle.docs == "generate" else None):
            step("docs publish")
        steps["total"] = round(time.perf_counter() - began, 3)
        mode = "incremental" if cycle.incremental else "full"
        nodes = {args[0]: outcome for (args, _), outcome in zip(cycle.commands, ran.get("nodes", []), strict=False)}
        state.last_cycle = {
            "mode": mode,
            "arguments": cycle.arguments,
            "steps": steps,
            "target": "ducklake" if snapshot is not None else "file",
            **({"snapshot": snapshot} if snapshot is not None else {}),
            "nodes": nodes,
        }
        state.save()
        log.info("warehouse cycle (%s): %s", mode, steps)
        return {"counts": counts, "mode": mode, "steps": steps, "nodes": nodes}
