"""`make up`: Airflow standalone (web UI, scheduler, SQLite) on localhost, wired to the demo sources.

Runs until Ctrl-C. The UI address and login are printed once the API server answers.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "simulators"))

from launch import start, start_receiver, start_redis  # noqa: E402
from post_voicenter import post_all  # noqa: E402
from run_demo import AIRFLOW, DEMO_TOKEN, VOICENTER_CDRS, demo_environment, push_enigma_messages  # noqa: E402

PORT = int(os.environ.get("AIRFLOW__API__PORT", "8080"))


def login() -> tuple[str, str]:
    """A stable admin password kept in AIRFLOW_HOME (not in the repository), made on first start."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        path.chmod(0o600)
    return "admin", json.loads(path.read_text())["admin"]


def wait_for_ui(url: str, proc: subprocess.Popen, timeout: float = 240) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2):
                return True
        except OSError:
            time.sleep(2)
    return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    user, password = login()
    from cdr import config

    with (start("kazoo_sim.py") as kazoo, start("pbx_sim.py") as pbx, start_redis() as redis,
          start_receiver(str(config.data_dir()), DEMO_TOKEN,
                         port=int(os.environ.get("CDR_RECEIVER_PORT", "8088"))) as receiver):
        push_enigma_messages(redis.port)
        post_all(receiver.url, DEMO_TOKEN, json.loads(VOICENTER_CDRS.read_text()))
        env = demo_environment(kazoo.url, pbx.url, redis.port)
        env.pop("CDR_PULL_SCHEDULE")  # the UI runs the real schedule (CDR_PULL_SCHEDULE or @hourly)
        env.update({
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
            "AIRFLOW__API__PORT": str(PORT),
            "AIRFLOW__API__HOST": "127.0.0.1",
            # standalone starts its components as `airflow ...` found on PATH.
            "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{env.get('PATH', '')}",
        })
        print(f"KAZOO simulator: {kazoo.url}   While1 PBX simulator: {pbx.url}   Enigma Redis: {redis.url}\n"
              f"Voicenter receiver: {receiver.url}/voicenter/cdr?token={DEMO_TOKEN} (demo token)", flush=True)
        # Its own process group, so stopping `make up` stops every component standalone started.
        proc = subprocess.Popen([AIRFLOW, "standalone"], env=env, start_new_session=True)
        signal.signal(signal.SIGTERM, _interrupt)
        url = f"http://localhost:{PORT}"
        if wait_for_ui(url, proc):
            print(f"\nAirflow UI: {url}   login: {user} / {password}\n(Ctrl-C stops everything)\n", flush=True)
        try:
            proc.wait()
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
