"""dbt run from the pipeline: in the project's folder, with the lake's location and the object store's
credentials in its environment, its output streamed line by line into the task's log.

Every command of a build cycle runs in one child process that parses the project once (``cdr.warehouse.dbt_batch``);
``run_dbt`` runs a single command.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path

from cdr import access, config
from cdr.lake import objectstore
from cdr.settings import settings

log = logging.getLogger(__name__)


class DbtError(RuntimeError):
    pass


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    found = str(beside) if beside.exists() else shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed beside this Python nor on PATH: run `make install`")
    return found


def _dbt_env() -> dict[str, str]:
    build = config.build_dir()
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(config.data_dir()),
        # absolute, as the staging sources read it (dbt runs in dbt_project/)
        "CDR_LAKE_URL": config.lake_url(),
        "DBT_TARGET_PATH": str(build / "target"),
        "DBT_LOG_PATH": str(build / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    if config.lake_on_object_store():
        # dbt has no Airflow context: the Connection's credentials reach its S3 filesystem as environment
        options = objectstore.s3_options()
        env.pop(objectstore.conn_env_var(settings().lake_conn_id), None)
        env.update(objectstore.subprocess_env(options))
    return env


def _project_args() -> list[str]:
    return ["--project-dir", str(config.DBT_PROJECT_DIR), "--profiles-dir", str(config.DBT_PROJECT_DIR)]


def _stream(command: list[str], tail: deque[str]) -> int:
    """Run ``command`` in the dbt project, every line of its output into the log and the last ones into ``tail``."""
    log.info("running: %s", " ".join(command))
    with subprocess.Popen(
        command, cwd=config.DBT_PROJECT_DIR, env=_dbt_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            log.info("dbt: %s", line)
    return proc.returncode


def run_dbt(*args: str, check: bool = True) -> int:
    """Run one dbt command on the project, streaming its output into the log."""
    tail: deque[str] = deque(maxlen=40)
    code = _stream([dbt_executable(), *args, *_project_args()], tail)
    if check and code != 0:
        raise DbtError(f"dbt {args[0]} failed (exit {code}):\n" + "\n".join(tail))
    return code


def run_dbt_batch(commands: list[tuple[list[str], bool]], dbt_vars: dict | None = None) -> dict:
    """Run dbt commands in order in one process that parses the project once (cdr.warehouse.dbt_batch), streaming
    their output into the log; ``dbt_vars`` go to every command. Stops at the first failing command whose
    ``check`` is true and raises; returns dbt_batch's report (written to a file): ``exit`` and ``seconds`` of each
    command run, ``parse``, and ``nodes``, each command's nodes' outcomes."""
    import json
    import tempfile

    common = _project_args()
    if dbt_vars:
        common += ["--vars", json.dumps(dbt_vars)]
    spec = {"common": common, "commands": [{"args": args, "check": check} for args, check in commands]}
    tail: deque[str] = deque(maxlen=40)
    access.ensure_dir(config.build_dir())
    with tempfile.TemporaryDirectory(dir=config.build_dir(), prefix=".dbt_batch.") as scratch:
        report = Path(scratch) / "result.json"
        code = _stream([sys.executable, "-m", "cdr.warehouse.dbt_batch", json.dumps(spec), str(report)], tail)
        result = json.loads(report.read_text()) if report.exists() else None
    if result is None:
        raise DbtError(f"dbt (cdr.warehouse.dbt_batch) ended with exit {code} before reporting:\n" + "\n".join(tail))
    if "failed" in result:
        raise DbtError(f"dbt {result['failed']} failed (exit {result['exit'][-1]}):\n" + "\n".join(tail))
    for (args, check), command_code in zip(commands, result["exit"], strict=False):
        if check and command_code != 0:
            raise DbtError(f"dbt {args[0]} failed (exit {command_code}):\n" + "\n".join(tail))
    return result
