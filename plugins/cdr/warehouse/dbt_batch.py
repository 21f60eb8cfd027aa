"""Several dbt commands in one process that parses the project once: ``python -m cdr.warehouse.dbt_batch SPEC``.

A warehouse cycle runs ``dbt build``, ``dbt source freshness`` and ``dbt docs generate``. As three processes, each
paid Python's start, dbt's imports and the loading and writing of the parsed project again: about 7 s of CPU for
freshness and 11 s for docs on the demo project, against 1 s and 4 s of their own work. dbt's programmatic runner
takes a parsed manifest and skips parsing (https://docs.getdbt.com/reference/programmatic-invocations), so one
process parses with the build's arguments and runs every command on that manifest.

``python -m cdr.warehouse.dbt_batch SPEC RESULT``: SPEC is JSON, ``{"common": [...], "commands": [{"args": [...],
"check": true}, ...]}``. ``common`` (project and profile directories, ``--vars``) is given to the parse and to
every command. The commands run in order until one with ``check`` fails. The report is written to the file
RESULT (replaced whole: the caller reads a whole report or none), ``{"exit": [...], "seconds": [...], "parse":
s, "nodes": [...]}``: the exit code of each command run, as the dbt CLI gives them (0 success, 1 a failure dbt
handled such as a failed test, 2 an error), the seconds each took, and each node's outcome
(``{"model.cdr.fct_cdr": "success", ...}``; none for ``docs generate``), with ``failed`` when the parse failed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def _exit_code(result) -> int:
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


def _outcomes(result) -> dict[str, str]:
    """Each node's status (success, pass, warn, fail, error, skipped...) in a command's result, by unique id."""
    return {
        r.node.unique_id: str(getattr(r.status, "value", r.status))
        for r in getattr(result.result, "results", None) or []
        if getattr(r, "node", None) is not None
    }


def _write_report(path: str, report: dict) -> None:
    temp = f"{path}.partial"
    with open(temp, "w") as fh:
        json.dump(report, fh)
    os.replace(temp, path)


def _keep_run_results(command: str) -> None:
    """Each command writes ``run_results.json`` over the one before: keep each as ``run_results.<command>.json``,
    so that an operator (and bench/warehouse_build.py) can see where a cycle's build spent its time."""
    target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    results = target / "run_results.json"
    if results.exists():
        shutil.copyfile(results, target / f"run_results.{command}.json")


def main(argv: list[str]) -> int:
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest

    spec, result_path = json.loads(argv[0]), argv[1]
    common: list[str] = spec["common"]
    codes: list[int] = []
    seconds: list[float] = []
    nodes: list[dict[str, str]] = []
    began = time.perf_counter()
    parsed = dbtRunner().invoke(["parse", *common])
    parse_seconds = round(time.perf_counter() - began, 3)
    if not parsed.success:
        report = {"exit": [_exit_code(parsed)], "seconds": [], "parse": parse_seconds, "nodes": [], "failed": "parse"}
        _write_report(result_path, report)
        return 2
    # a result is typed for every command; parse's is the manifest
    if not isinstance(parsed.result, Manifest):
        raise TypeError(f"dbt parse gave a {type(parsed.result).__name__}, not a manifest")
    runner = dbtRunner(manifest=parsed.result)
    for command in spec["commands"]:
        began = time.perf_counter()
        result = runner.invoke([*command["args"], *common])
        code = _exit_code(result)
        nodes.append(_outcomes(result))
        _keep_run_results(command["args"][0])
        codes.append(code)
        seconds.append(round(time.perf_counter() - began, 3))
        if code and command.get("check", True):
            break
    _write_report(result_path, {"exit": codes, "seconds": seconds, "parse": parse_seconds, "nodes": nodes})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
