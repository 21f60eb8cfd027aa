"""`make up`: Airflow standalone (web UI, scheduler, dag-processor, triggerer) on localhost, wired to the demo sources.

Runs until Ctrl-C. The UI address and login are printed once the API server answers.

- Metadata database: an AIRFLOW__DATABASE__SQL_ALCHEMY_CONN you export wins; else the local PostgreSQL when
  one answers on 127.0.0.1:5432 (database `cdr_airflow`, created if missing), since SQLite takes one writer
  at a time and refuses a back-fill created while other runs write ("database is locked"); else SQLite in
  AIRFLOW_HOME, with a one-line warning. That choice is also written to AIRFLOW_HOME/airflow.cfg, so
  `.venv/bin/airflow ...` in another shell (a CLI back-fill) talks to the same database; an exported URL is
  not written anywhere (it may hold a password).
- The project's DAGs run unpaused: each is unpaused through the REST API once the API server answers and the
  dag-processor has listed it (not at creation: a task the scheduler starts before the API server is up
  fails), unless AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True is exported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "simulators"))

from post_voicenter import post_all  # noqa: E402

from launch import start, start_receiver, start_redis  # noqa: E402
from run_demo import AIRFLOW, DEMO_TOKEN, VOICENTER_CDRS, demo_environment, push_enigma_messages  # noqa: E402

PORT = int(os.environ.get("AIRFLOW__API__PORT", "8080"))
PG_HOST, PG_PORT, PG_USER, PG_DATABASE = "127.0.0.1", 5432, "postgres", "cdr_airflow"
DB_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
# The DAGs make up unpauses: those whose demo sources it starts (voicenter_reconcile needs Voicenter's Call Log,
# which make up does not simulate, so it stays paused).
DEMO_DAGS = ["kazoo_cdrs", "pbx_cdrs", "enigma_cdrs", "voicenter_cdrs", "cdr_warehouse", "cdr_reports"]
PAUSED_ENV = "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"
# The simulators serve the demo days unless one of these names another data file (bench/latency.py serves CDRs
# that end while it runs).
KAZOO_DATA_ENV, PBX_DATA_ENV = "CDR_UP_KAZOO_DATA", "CDR_UP_PBX_DATA"
# A folder for the Enigma Redis to keep its list in (append-only, synced per write); unset, it keeps nothing.
REDIS_DIR_ENV = "CDR_UP_REDIS_DIR"


def _data_args(name: str) -> list[str]:
    return ["--data", os.environ[name]] if os.environ.get(name) else []


def login() -> tuple[str, str]:
    """A stable admin password kept in AIRFLOW_HOME (not in the repository), made on first start."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}))
        path.chmod(0o600)
    return "admin", json.loads(path.read_text())["admin"]


def ensure_postgres_database(
    host: str = PG_HOST, port: int = PG_PORT, user: str = PG_USER, database: str = PG_DATABASE
) -> str:
    """The SQLAlchemy URL of ``database`` on that server, created if missing; raises if the server cannot be used."""
    import psycopg2
    from psycopg2 import sql

    # Not `with connect(...)`: that opens a transaction, and CREATE DATABASE refuses to run inside one.
    con = psycopg2.connect(host=host, port=port, user=user, dbname="postgres", connect_timeout=3)
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [database])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    finally:
        con.close()
    return f"postgresql+psycopg2://{user}@{host}:{port}/{database}"


def metadata_database(home: Path, **server) -> tuple[str, str]:
    """(SQLAlchemy URL, one line saying which database and why)."""
    import psycopg2

    if os.environ.get(DB_ENV):
        return os.environ[DB_ENV], f"Airflow metadata: {_safe(os.environ[DB_ENV])} (from {DB_ENV})"
    try:
        url = ensure_postgres_database(**server)
        return url, f"Airflow metadata: PostgreSQL, {_safe(url)}"
    except psycopg2.Error as exc:
        reason = (str(exc).strip().splitlines() or ["no answer"])[0]
        where = f"{server.get('host', PG_HOST)}:{server.get('port', PG_PORT)}"
        return (
            f"sqlite:///{home / 'airflow.db'}",
            f"WARNING: Airflow metadata in SQLite ({home / 'airflow.db'}), no PostgreSQL usable on {where} "
            f"({reason}): a back-fill created while other runs write may fail with 'database is locked'",
        )


def _safe(url: str) -> str:
    """The URL without its password, to print."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def write_database_to_cfg(home: Path, url: str) -> None:
    """[database] sql_alchemy_conn in AIRFLOW_HOME/airflow.cfg, so every airflow command of this home uses ``url``.

    Airflow writes a full airflow.cfg on its first start; only that one line is replaced (or the section added).
    """
    cfg = home / "airflow.cfg"
    text = cfg.read_text() if cfg.exists() else ""
    line = f"sql_alchemy_conn = {url}"
    if re.search(r"(?m)^sql_alchemy_conn\s*=.*$", text):
        text = re.sub(r"(?m)^sql_alchemy_conn\s*=.*$", lambda _: line, text, count=1)
    elif re.search(r"(?m)^\[database\]\s*$", text):
        text = re.sub(r"(?m)^\[database\]\s*$", lambda _: f"[database]\n{line}", text, count=1)
    else:
        text += f"\n[database]\n{line}\n"
    home.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    cfg.chmod(0o600)


def api_token(url: str, user: str, password: str) -> str:
    """A JWT for the REST API from the simple auth manager (POST /auth/token)."""
    response = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=10)
    response.raise_for_status()
    return response.json()["access_token"]


def unpause(url: str, token: str, dag_ids: list[str], timeout: float = 180) -> list[str]:
    """Unpause each of ``dag_ids`` once the dag-processor has listed it; returns those it unpaused."""
    headers = {"Authorization": f"Bearer {token}"}
    waiting, unpaused = set(dag_ids), []
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for dag_id in sorted(waiting):
            response = requests.get(f"{url}/api/v2/dags/{dag_id}", headers=headers, timeout=10)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            if response.json()["is_paused"]:
                requests.patch(
                    f"{url}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=headers, timeout=10
                ).raise_for_status()
                unpaused.append(dag_id)
            waiting.discard(dag_id)
        if waiting:
            time.sleep(2)
    if waiting:
        print(
            f"make up: {', '.join(sorted(waiting))} not parsed after {timeout:.0f}s; unpause them in the UI", flush=True
        )
    return unpaused


def wait_for_ui(url: str, proc: subprocess.Popen, timeout: float = 240) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            requests.get(f"{url}/api/v2/monitor/health", timeout=2)
            return True
        except requests.RequestException:
            time.sleep(2)
    return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    user, password = login()
    from cdr import config
    from cdr.settings import settings

    home = Path(os.environ["AIRFLOW_HOME"])
    db_url, db_line = metadata_database(home)
    if not os.environ.get(DB_ENV):
        # Airflow writes its full airflow.cfg (with the secrets its components share) on a first start: let it,
        # then set the one line.
        if not (home / "airflow.cfg").exists():
            subprocess.run(
                [AIRFLOW, "config", "get-value", "core", "executor"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        write_database_to_cfg(home, db_url)
    keep_paused = os.environ.get(PAUSED_ENV, "").strip().lower() in ("true", "1", "yes")
    print(db_line, flush=True)
    print(
        "The project's DAGs "
        + (
            f"stay paused ({PAUSED_ENV} is set): unpause them in the UI or with "
            "`.venv/bin/airflow dags unpause <dag_id>`"
            if keep_paused
            else "run unpaused, on their schedules: pause one with its toggle in the UI or "
            "`.venv/bin/airflow dags pause <dag_id>`"
        ),
        flush=True,
    )

    with (
        start("kazoo_sim.py", *_data_args(KAZOO_DATA_ENV)) as kazoo,
        start("pbx_sim.py", *_data_args(PBX_DATA_ENV)) as pbx,
        start_redis(directory=os.environ.get(REDIS_DIR_ENV) or None) as redis,
        start_receiver(str(config.data_dir()), DEMO_TOKEN, port=settings().receiver_port) as receiver,
    ):
        push_enigma_messages(redis.port)
        post_all(receiver.url, DEMO_TOKEN, json.loads(VOICENTER_CDRS.read_text()))
        env = demo_environment(kazoo.url, pbx.url, redis.port)
        # The UI runs the real schedule: CDR_PULL_SCHEDULE if exported, else @hourly (not the demo's @daily).
        env.pop("CDR_PULL_SCHEDULE")
        if os.environ.get("CDR_PULL_SCHEDULE"):
            env["CDR_PULL_SCHEDULE"] = os.environ["CDR_PULL_SCHEDULE"]
        env.update(
            {
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
                "AIRFLOW__API__PORT": str(PORT),
                "AIRFLOW__API__HOST": "127.0.0.1",
                # Tasks report to the API server; Airflow's default assumes port 8080.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{PORT}/execution/",
                DB_ENV: db_url,
                # Unpaused below, through the API once it answers: a task started before the API server is up fails.
                PAUSED_ENV: "True",
                # Tasks wait this long for an API server busy starting up on a small machine (Airflow's default: 5 s).
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": os.environ.get(
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "30"
                ),
                # standalone starts its components as `airflow ...` found on PATH.
                "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        print(
            f"KAZOO simulator: {kazoo.url}   While1 PBX simulator: {pbx.url}   Enigma Redis: {redis.url}\n"
            f"Voicenter receiver: {receiver.url}/voicenter/cdr?token={DEMO_TOKEN} (demo token)",
            flush=True,
        )
        # Its own process group, so stopping `make up` stops every component standalone started.
        proc = subprocess.Popen([AIRFLOW, "standalone"], env=env, start_new_session=True)
        signal.signal(signal.SIGTERM, _interrupt)
        url = f"http://localhost:{PORT}"
        try:
            if wait_for_ui(url, proc):
                print(f"\nAirflow UI: {url}   login: {user} / {password}\n(Ctrl-C stops everything)\n", flush=True)
                if not keep_paused:
                    done = unpause(url, api_token(url, user, password), DEMO_DAGS)
                    print(f"make up: unpaused {', '.join(done) or 'nothing (all were unpaused already)'}", flush=True)
            proc.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Stop standalone and every component it started. The scheduler's LocalExecutor waits for its running tasks
    until it is signalled a second time (as it logs); a task cut short is run again on the next `make up`, and
    every task of the pipeline can be re-run without loss or duplicates. Standalone itself (Airflow 3.3) can stay
    behind once its components have exited: then nothing is left to wait for."""
    import psutil

    def components_gone() -> bool:
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return True
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.status() != psutil.STATUS_ZOMBIE:
                    return False
        return True

    for sig, patience in ((signal.SIGINT, 15.0), (signal.SIGINT, 30.0), (signal.SIGKILL, 30.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + patience
        while proc.poll() is None and time.monotonic() < deadline:
            if components_gone():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return
            time.sleep(0.5)


if __name__ == "__main__":
    main()
