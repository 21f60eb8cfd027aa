"""One warehouse cycle: plan what dbt must build, build it, record what was built, then publish it (the file or
the DuckLake), its masked copy and the model's documentation, one cycle at a time.

Builds are incremental while the project is the one the last successful build ran (``project_fingerprint``):
only what reached the lake since is read and tested. The time of each step goes to ``build/last_build.json``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cdr import access, config
from cdr.fsutil import atomic_write_bytes
from cdr.lake.writer import ensure_schema_file
from cdr.registry import lake_tables
from cdr.warehouse import ducklake
from cdr.warehouse.dbt_runner import DbtError, run_dbt_batch
from cdr.warehouse.masking import publish_masked
from cdr.warehouse.publish import incremental_keys, lake_lookback_hours, publish_docs, publish_warehouse

log = logging.getLogger(__name__)


@contextmanager
def build_lock(timeout: float = 3600.0):
    """One build at a time. flock dies with its process, so a killed build never leaves a stale lock."""
    path = config.build_dir() / ".build.lock"
    access.ensure_dir(path.parent)
    try:
        fd = access.create_file(path)
    except FileExistsError:
        fd = os.open(path, os.O_WRONLY)
    with open(fd, "w") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another warehouse build held {path} for {timeout:.0f}s") from None
                log.info("waiting for another warehouse build to finish")
                time.sleep(min(5.0, max(0.05, deadline - time.monotonic())))
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# What new data changes: the fact and everything built from it, every other mart table (a mart may read the
# views over the lake without the fact, as agg_voicenter_reconciliation does; the rest are small) and every other
# incremental table (int_voicenter__cdr_versions). The views and the seeds change only with the project's code.
# Data tests all run: those of the views check the new records. Unit tests do not read data: with the code
# unchanged (the fingerprint), their answer is too, so an incremental build leaves them to the full builds.
DATA_MODELS = ("fct_cdr+", "path:models/marts", "config.materialized:incremental")
DATA_SELECTION = (*DATA_MODELS, "resource_type:test")
NOT_DATA = ("resource_type:unit_test",)
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
    if os.environ.get("CDR_LAKE_URL"):
        digest.update(config.lake_url().encode())
    # The call centre's clock (macros/local_time.sql): a changed zone re-dates every leg, not only the new ones.
    zones = sorted(
        (k, v) for k, v in os.environ.items() if k == "CDR_SITE_TIMEZONE" or k.startswith("CDR_SITE_TIMEZONE_")
    )
    digest.update(repr(zones).encode())
    return digest.hexdigest()


def _tested_mark_path() -> Path:
    return config.build_dir() / "tests.watermark"


def _lineage_path() -> Path:
    return config.build_dir() / "lineage"


def tested_mark() -> str | None:
    """The newest ``extracted_at`` of fct_cdr after the last build whose data tests all passed (None: unknown)."""
    path = _tested_mark_path()
    return path.read_text().strip() or None if path.exists() else None


def dbt_build_arguments(full_refresh: bool = False, full_tests: bool = False) -> list[str]:
    """``dbt build`` of only what new data changes (the incremental fact and what depends on it) while the project is
    the one the last successful build ran; otherwise (first build, changed code, or on request) of everything
    from the whole lake, so that a changed rule applies to every leg, not only to new ones.

    An incremental build's data tests check only the rows read since the last build whose tests passed (the var
    ``tests_changed_since``; see dbt_project/macros/incremental_tests.sql), where that proves the same as
    checking every row; a full build checks every row, less the tests that fct_cdr's prove of every leg it
    holds (PROVED_DOWNSTREAM: at 10M legs they were a sixth of a full build, each reading the whole lake again);
    ``full_tests`` runs every test on every row."""
    import json

    stamp = config.build_dir() / "project.fingerprint"
    if (
        not full_refresh
        and stamp.exists()
        and (config.build_dir() / "build.duckdb").exists()
        and stamp.read_text() == project_fingerprint()
    ):
        mark = None if full_tests else tested_mark()
        if not mark:
            return ["build", "--select", *DATA_SELECTION, "--exclude", *NOT_DATA]
        return [
            "build",
            "--select",
            *DATA_SELECTION,
            "--exclude",
            *NOT_DATA,
            *PROVED_DOWNSTREAM,
            "--vars",
            json.dumps({"tests_changed_since": mark}),
        ]
    return ["build", "--full-refresh"] if full_tests else ["build", "--full-refresh", "--exclude", *PROVED_DOWNSTREAM]


def _split_vars(arguments: list[str]) -> tuple[list[str], dict | None]:
    """``dbt build`` arguments without their ``--vars``, and the vars (given to every command of the cycle)."""
    import json

    if "--vars" not in arguments:
        return arguments, None
    at = arguments.index("--vars")
    return [*arguments[:at], *arguments[at + 2 :]], json.loads(arguments[at + 1])


def _newest_leg(build_db: Path) -> str | None:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return con.execute("select max(extracted_at)::varchar from marts.fct_cdr").fetchone()[0]


def build_and_publish(full_refresh: bool = False, full_tests: bool = False) -> dict:
    """``dbt build`` (models and tests), a freshness check that only warns, publish, then the docs.

    Builds are incremental (only what reached the lake since the last build is read, and tested); ``full_refresh``
    rebuilds every model from the whole lake, for when a model's logic changed; ``full_tests`` tests every row
    (the nightly check: ``.venv/bin/python -c "from cdr.warehouse.build import build_and_publish;
    build_and_publish(full_tests=True)"``, or ``dbt test`` by hand). Publishing follows the build: after an
    incremental build, the published copies are updated by what changed. The time of each step is written to
    ``build/last_build.json``.
    """
    import json
    import uuid

    steps: dict[str, float] = {}

    def step(name: str, started: float) -> float:
        now = time.perf_counter()
        steps[name] = round(now - started, 3)
        return now

    # What dbt and DuckDB create (build.duckdb, dbt's artefacts, a DuckLake's files) is at most 0640/0750, in the
    # group of the folders made for it (cdr.access).
    with access.private_umask(), build_lock():
        began = clock = time.perf_counter()
        for source, schema in lake_tables().items():
            ensure_schema_file(source, schema)
        fingerprint = project_fingerprint()
        arguments = dbt_build_arguments(full_refresh, full_tests)
        incremental = "--full-refresh" not in arguments
        build_args, dbt_vars = _split_vars(arguments)
        # Docs describe what was just published; the catalog reads the build database, not the analysts' copy.
        # They change only with the project (the catalog holds names, types and descriptions, not row counts), so
        # an incremental build of unchanged code keeps the published ones.
        docs_stamp = config.build_dir() / "docs.fingerprint"
        docs_current = (
            incremental
            and docs_stamp.exists()
            and docs_stamp.read_text() == fingerprint
            and (config.docs_dir() / "index.html").exists()
        )
        commands = [(build_args, True), (["source", "freshness"], False)]
        if not docs_current:
            commands.append((["docs", "generate"], False))
        clock = step("prepare", clock)
        # One process for the three: the build must pass; a stale source only warns; docs that fail to generate
        # must not hold back a published build, so that is raised after the publish.
        ran = run_dbt_batch(commands, dbt_vars)
        codes = ran["exit"]
        # each command's own time, as the steps of a cycle are reported (bench/warehouse_build.py reads them)
        steps["dbt parse"] = ran["parse"]
        for name, seconds in zip(("dbt build", "freshness", "docs generate"), ran["seconds"], strict=False):
            steps[name] = seconds
        clock = time.perf_counter()
        # Only after a successful build: a failed one leaves the next build to make everything again, and to test
        # every row its failed tests saw.
        atomic_write_bytes(config.build_dir() / "project.fingerprint", fingerprint.encode())
        newest = _newest_leg(config.build_dir() / "build.duckdb")
        atomic_write_bytes(_tested_mark_path(), (newest or "").encode())
        lineage_path = _lineage_path()
        if not incremental or not lineage_path.exists():
            atomic_write_bytes(lineage_path, uuid.uuid4().hex.encode())
        lineage = lineage_path.read_text().strip()
        clock = step("record", clock)
        if codes[1] != 0:
            log.warning("dbt source freshness reports a stale source (see above); the build is published anyway")
        if ducklake.enabled():
            # the DuckLake target: one snapshot per build (cdr.warehouse.ducklake), instead of warehouse.duckdb
            published = ducklake.publish(
                config.build_dir() / "build.duckdb",
                lineage=lineage,
                keys=incremental_keys(),
                lookback_hours=lake_lookback_hours(),
            )
            counts, snapshot = published["counts"], published["snapshot"]
        else:
            counts, snapshot = publish_warehouse(lineage=lineage), None
        clock = step("publish", clock)
        publish_masked(lineage=lineage, keys=incremental_keys(), lookback_hours=lake_lookback_hours())
        clock = step("publish masked", clock)
        if docs_current:
            log.info("docs unchanged: the project is the one %s was generated from", config.docs_dir() / "index.html")
        elif codes[2] != 0:
            raise DbtError(f"dbt docs generate failed (exit {codes[2]}); the warehouse was published (see above)")
        else:
            publish_docs()
            atomic_write_bytes(docs_stamp, fingerprint.encode())
            step("docs publish", clock)
        steps["total"] = round(time.perf_counter() - began, 3)
        atomic_write_bytes(
            config.build_dir() / "last_build.json",
            json.dumps(
                {
                    "mode": "incremental" if incremental else "full",
                    "arguments": arguments,
                    "steps": steps,
                    "target": "ducklake" if snapshot is not None else "file",
                    **({"snapshot": snapshot} if snapshot is not None else {}),
                }
            ).encode(),
        )
        log.info("warehouse cycle (%s): %s", "incremental" if incremental else "full", steps)
        return counts
