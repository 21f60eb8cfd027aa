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
    banner: str = ""  # the line it printed when it started listening

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
    """``script``: a simulator's file name here, or any path to a server that prints ``listening on <url>``."""
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
            return Simulator(process, match.group(1), line.strip())
    process.kill()
    raise RuntimeError(f"{script} did not start listening within {timeout:.0f}s (exit code {process.poll()})")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RedisServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        Simulator(self.process, self.url).stop()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def redis_command(binary: str, port: int, directory: str | None = None) -> list[str]:
    keep = ["--appendonly", "no"]
    if directory:
        keep = ["--dir", directory, "--appendonly", "yes", "--appendfsync", "always"]
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "yes", *keep]


def start_redis(timeout: float = 20.0, directory: str | None = None) -> RedisServer:
    """A redis-server on a free loopback port: throwaway, keeping nothing on disk, unless ``directory`` is given;
    then it keeps its list there as a dialer's Redis should (an append-only file synced on every write), so a
    killed server started again on that folder has every LPUSH it answered (bench/soak.py kills it)."""
    import shutil

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: `make test` installs it (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(redis_command(binary, port, directory), stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.ping()
            return RedisServer(process, port)
        except redis.ConnectionError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server on port {port} did not answer within {timeout:.0f}s")


def start_receiver(
    data_dir: str,
    token: str,
    *,
    port: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    command: list[str] | None = None,
) -> Simulator:
    """`cdr-receiver` on loopback (``port`` 0: a free one), staging under ``data_dir``; returns once /healthz answers.

    ``env``: more CDR_RECEIVER_* settings for this process (limits, caps). ``command``: what to run instead of
    the console script (a test that injects faults runs the same ``main`` behind its own patches)."""
    import os
    import sys

    import requests

    port = port or free_port()
    env = {
        **os.environ,
        "CDR_DATA_DIR": str(data_dir),
        "CDR_VOICENTER_TOKEN": token,
        "CDR_RECEIVER_HOST": "127.0.0.1",
        "CDR_RECEIVER_PORT": str(port),
        **(env or {}),
    }
    binary = os.path.join(os.path.dirname(sys.executable), "cdr-receiver")
    from pathlib import Path

    from cdr import access

    log_path = os.path.join(str(data_dir), "logs", "receiver.log")
    # under the data directory: 0640 in 0750 folders of its group, as everything there (cdr.access)
    access.ensure_dir(Path(log_path).parent)
    try:
        os.close(access.create_file(Path(log_path)))
    except FileExistsError:
        pass
    # appended to: receivers started one beside the other (a rolling restart) share it
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    with open(fd, "ab") as log:
        process = subprocess.Popen(command or [binary], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code in (200, 503):
                return Simulator(process, url)
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    with open(log_path, "rb") as log:
        tail = log.read().decode(errors="replace")[-500:]
    raise RuntimeError(f"cdr-receiver did not answer on {url} within {timeout:.0f}s: {tail}")
