"""Run the real Airflow CLI for the end-to-end tests, keeping each command's output as a test artefact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ARTIFACTS

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow(env: dict, *args: str, log: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    (ARTIFACTS / f"e2e-{log}.log").write_text(output)
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n" + "\n".join(output.splitlines()[-40:])
    if args[:2] == ("dags", "test"):
        assert "state=success" in output, output[-3000:]
    return output
