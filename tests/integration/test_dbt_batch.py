"""dbt's commands in one process (cdr.warehouse.dbt_batch): the report comes back in a file, with each command's
exit code and each node's outcome, whatever the command printed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def project(root, failing: bool):
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: probe\nversion: '1.0.0'\nprofile: probe\nconfig-version: 2\n")
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            f"""\
            probe:
              target: dev
              outputs:
                dev: {{type: duckdb, path: "{root / "probe.duckdb"}", threads: 1}}
            """
        )
    )
    (root / "models" / "numbers.sql").write_text("select 1 as n union all select 2")
    (root / "models" / "numbers.yml").write_text(
        "models:\n  - name: numbers\n    columns:\n      - name: n\n        data_tests: [unique, "
        + ("{accepted_values: {arguments: {values: [1]}}}" if failing else "not_null")
        + "]\n"
    )


def run_batch(root, commands):
    common = ["--project-dir", str(root), "--profiles-dir", str(root)]
    spec = {"common": common, "commands": [{"args": args, "check": check} for args, check in commands]}
    result = root / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "cdr.warehouse.dbt_batch", json.dumps(spec), str(result)],
        cwd=root,
        env={"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_TARGET_PATH": str(root / "target"), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(result.read_text())


def test_each_node_s_outcome_and_each_command_s_exit_come_back_in_the_report_file(tmp_path):
    project(tmp_path / "good", failing=False)
    report = run_batch(tmp_path / "good", [(["build"], True), (["ls"], False)])
    assert report["exit"] == [0, 0] and len(report["seconds"]) == 2 and report["parse"] > 0
    built = report["nodes"][0]
    assert built["model.probe.numbers"] == "success"
    assert sorted(status for node, status in built.items() if node.startswith("test.")) == ["pass", "pass"]
    assert report["nodes"][1] == {}  # `ls` runs no node


def test_a_failed_test_stops_the_batch_where_it_must_and_names_the_node(tmp_path):
    project(tmp_path / "bad", failing=True)
    report = run_batch(tmp_path / "bad", [(["build"], True), (["ls"], False)])
    assert report["exit"] == [1]  # the checked build failed: nothing after it ran
    failed = {node for node, status in report["nodes"][0].items() if status == "fail"}
    assert len(failed) == 1 and next(iter(failed)).startswith("test.probe.accepted_values_numbers_n")
