"""Start a demo simulator as a child process on a free loopback port; used by the demo, `make up` and tests."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Simulator:
    process: subprocess.Popen
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(script: str, *args: str, port: int = 0, host: str = "127.0.0.1", timeout: float = 30.0) -> Simulator:
    command = [sys.executable, str(HERE / script), "--host", host, "--port", str(port), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = LISTENING.search(line)
        if match:
            return Simulator(process, match.group(1))
    process.kill()
    raise RuntimeError(f"{script} did not start listening within {timeout:.0f}s (exit code {process.poll()})")
