"""`make up` (run_up.py) as a child process whose output is kept line by line and in a log file: what the
`make up` end-to-end test and bench/latency.py both drive."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

RUN_UP = Path(__file__).resolve().with_name("run_up.py")


class UpProcess:
    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.lines = env, []
        self.log = open(log, "w")  # noqa: SIM115 (closed in stop(), after the reader thread is done)
        self.proc = subprocess.Popen(
            [sys.executable, str(RUN_UP)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            self.log.write(line)
            self.log.flush()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The first line so far matching ``pattern``, waiting up to ``timeout`` seconds for one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                match = re.search(pattern, line)
                if match:
                    return match
            if self.proc.poll() is not None:
                raise RuntimeError("make up stopped:\n" + "\n".join(self.lines[-40:]))
            time.sleep(1)
        raise RuntimeError(f"make up printed no {pattern!r} in {timeout:.0f}s:\n" + "\n".join(self.lines[-40:]))

    def stop(self, timeout: float = 120) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
