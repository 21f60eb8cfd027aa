"""docker-compose.yaml's services, run as the file writes them, confined as its containers are (tests/e2e/confined.py:
read-only filesystems, tmpfs on /tmp, only their own volumes, no capabilities, no privilege gain), without Docker.

Each service's command, environment and volumes come from the compose file itself (interpolated with this run's
secrets), and the image's environment from the Dockerfile; only what points outside the container is changed:
the metadata database (a PostgreSQL database of this run, dropped after) and the listening ports.

- airflow-init moves what a receiver of the earlier layout (staging in the shared data volume, killed at the
  end) acknowledged into the receiver's own volume, migrates the database and creates the first admin;
- the api-server with the FAB auth manager lets that admin log in through the REST API (POST /auth/token), and
  again after it is stopped and started in a fresh container: users live in PostgreSQL, not in the container;
- the receiver, seeing only its two volumes, stages what Voicenter posts and quarantines what is not a CDR; the
  scheduler's container loads the landing volume and builds the warehouse (`airflow dags test`), which then holds
  every CDR posted before and after the upgrade, once each;
- the Redis services' commands and healthchecks run against Debian's redis-server: the password is required,
  and is not on any command line.

The peak memory and task count of each process are measured and must fit the service's mem_limit and
pids_limit (docs/production.md, "Limits", has the figures).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pytest
import requests
import yaml
from post_voicenter import post, post_all

import run_up
from launch import free_port, start_receiver
from tests.conftest import ARTIFACTS, ROOT
from tests.e2e import confined
from tests.e2e.airflow_api import wait_for
from tests.test_compose import CELERY, COMPOSE, DOCKERFILE, _merge_service, command_of, resolve

pytestmark = pytest.mark.e2e

# The demo's CDRs without `aiData`: the receiver of this release refuses an object there (cdr.sources.voicenter.bounds),
# which is the receiver's own business and tests; any CDR it takes serves here.
CDRS = [
    {key: value for key, value in cdr.items() if key != "aiData"}
    for cdr in json.loads((ROOT / "include" / "demo_data" / "voicenter_cdrs.json").read_text())
]
BEFORE, AFTER = CDRS[: len(CDRS) // 2], CDRS[len(CDRS) // 2 :]
# The code the Dockerfile copies into /opt/cdr: seen in place, from the checkout (read-only inside).
CODE = ("plugins", "dags", "dbt_project", "include", ".venv", "pyproject.toml", "uv.lock", "README.md")
DAY = "2026-11-21T00:00:00+00:00"
UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3}


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# What .env holds for this run.
DOTENV = {
    "AIRFLOW_JWT_SECRET": secrets.token_hex(32),
    "AIRFLOW_API_SECRET_KEY": secrets.token_hex(32),
    "AIRFLOW_FERNET_KEY": _fernet_key(),
    "AIRFLOW_ADMIN_PASSWORD": secrets.token_hex(16),
    "POSTGRES_PASSWORD": secrets.token_hex(24),
    "REDIS_PASSWORD": secrets.token_hex(24),
    "CELERY_BROKER_PASSWORD": secrets.token_hex(24),
    "CDR_VOICENTER_TOKEN": secrets.token_hex(32),
    **{f"{image}_DIGEST": "sha256:" + "0" * 64 for image in ("POSTGRES", "REDIS", "PYTHON")},
}


def bytes_of(size: str | int) -> int:
    """A compose size (512m, 6g, a number of bytes) in bytes."""
    text = str(size).strip().lower().rstrip("b")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def image_env() -> dict[str, str]:
    """The Dockerfile's ENV, in order (a later one may use an earlier one)."""
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    env: dict[str, str] = {}
    for line in logical.splitlines():
        if line.startswith("ENV "):
            env.update(part.split("=", 1) for part in shlex.split(line[4:]))
    return env


class Deployment:
    """The compose project on this machine: a host folder per named volume, a PostgreSQL database, this run's
    .env; ``container(service)`` and ``env(service, container)`` as docker compose would make them."""

    def __init__(self, root: Path, database_url: str):
        self.root, self.database_url = root, database_url
        self.compose = yaml.safe_load(COMPOSE.read_text())
        self.services = resolve(self.compose["services"], DOTENV)
        self.volumes = {name: root / "volumes" / name for name in self.compose["volumes"]}
        for folder in self.volumes.values():
            folder.mkdir(parents=True)
        self.api_port = free_port()

    def container(self, service: str, **options) -> confined.Container:
        mounts = {}
        for volume in self.services[service].get("volumes") or []:
            name, inside = str(volume).split(":")[:2]
            mounts[inside] = self.volumes[name]
        return confined.Container(mounts, **options)

    def inside(self, container: confined.Container, value: str) -> str:
        """A path of the image (/opt/cdr/...) as this container sees it: the code in the checkout, the rest in
        the container's tree."""
        if not value.startswith("/opt/cdr/"):
            return value
        relative = value[len("/opt/cdr/") :]
        return str(ROOT / relative) if relative.split("/")[0] in CODE else container.path(value)

    def env(self, service: str, container: confined.Container) -> dict[str, str]:
        env = {"HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
        for key, value in {**image_env(), **self.services[service].get("environment", {})}.items():
            if key == "PATH":
                parts = str(value).replace("$PATH", os.environ["PATH"]).split(":")
                env[key] = ":".join(self.inside(container, part) for part in parts)
            else:
                env[key] = self.inside(container, str(value))
        # What points outside the container: this run's database and loopback ports.
        if "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in env:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.database_url
        if "AIRFLOW__CORE__EXECUTION_API_SERVER_URL" in env:
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{self.api_port}/execution/"
        return env

    def argv(self, service: str, container: confined.Container) -> list[str]:
        return [self.inside(container, part) for part in command_of(self.services[service])]


def resources(service: dict) -> tuple[int, int]:
    return bytes_of(service["mem_limit"]), int(service["pids_limit"])


def record(name: str, usage: confined.Usage, service: dict) -> None:
    """Keep the figure (build/test-artifacts/compose-usage.json) and check it fits the service's limits."""
    memory, pids = resources(service)
    path = ARTIFACTS / "compose-usage.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = {
        "peak_pss_mb": round(usage.peak_memory / 1024**2),
        "peak_tasks": usage.peak_tasks,
        "mem_limit_mb": round(memory / 1024**2),
        "pids_limit": pids,
    }
    path.write_text(json.dumps(figures, indent=1, sort_keys=True))
    assert 0 < usage.peak_memory < memory, (name, figures[name])
    assert 0 < usage.peak_tasks < pids, (name, figures[name])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    why = confined.unavailable()
    if why:
        pytest.skip(why)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    database = f"cdr_test_{uuid.uuid4().hex[:12]}"
    url = run_up.ensure_postgres_database(database=database)
    try:
        yield Deployment(tmp_path_factory.mktemp("compose"), url)
    finally:
        con = psycopg2.connect(host=run_up.PG_HOST, port=run_up.PG_PORT, user=run_up.PG_USER, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{database}" with (force)')
        con.close()


@pytest.fixture(scope="module")
def initialised(deployment):
    """The earlier layout's receiver (staging in the shared data volume) takes the first half of the CDRs and
    is killed (its last segment left open, unless it was sealed just before); then airflow-init runs."""
    data = deployment.volumes["cdr-data"]
    token = DOTENV["CDR_VOICENTER_TOKEN"]
    receiver = start_receiver(str(data), token)
    try:
        post_all(receiver.url, token, BEFORE)
    finally:
        receiver.process.kill()
        receiver.process.wait()

    container = deployment.container("airflow-init")
    try:
        container.run(
            deployment.argv("airflow-init", container),
            deployment.env("airflow-init", container),
            ARTIFACTS / "e2e-compose-airflow-init.log",
        )
    finally:
        container.remove()
    return deployment


def staged_ids(folder: Path) -> list[str]:
    return [json.loads(line)["cdr"]["ivruniqueid"] for path in sorted(folder.rglob("*.jsonl")) for line in path.open()]


def test_init_moves_what_the_earlier_receiver_staged_into_its_volume(initialised):
    old = initialised.volumes["cdr-data"] / "landing" / "voicenter"
    new = initialised.volumes["voicenter-landing"]
    assert not [p for p in old.rglob("*") if p.is_file()], "left behind in the shared volume"
    assert not list(new.rglob("*.open")) and not list(new.rglob(".*"))
    # Every CDR acknowledged before the upgrade, re-sends included, is now where the loader looks.
    posted = [cdr["ivruniqueid"] for cdr in BEFORE]
    assert sorted(set(staged_ids(new))) == sorted(posted)


def test_the_first_admin_logs_in_after_the_api_server_is_recreated(initialised):
    service = initialised.services["airflow-apiserver"]
    url = f"http://127.0.0.1:{initialised.api_port}"
    admin = {"username": "admin", "password": DOTENV["AIRFLOW_ADMIN_PASSWORD"]}

    def token() -> str | None:
        try:
            response = requests.post(f"{url}/auth/token", json=admin, timeout=10)
        except requests.RequestException:
            return None
        return response.json()["access_token"] if response.status_code == 201 else None

    for round_ in (1, 2):  # the second in a new container: nothing of the first one's files is left
        container = initialised.container("airflow-apiserver")
        env = {
            **initialised.env("airflow-apiserver", container),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(initialised.api_port),
        }
        log = ARTIFACTS / f"e2e-compose-api-server-{round_}.log"
        process = container.popen(initialised.argv("airflow-apiserver", container), env, log)
        usage = confined.Usage(process.pid)
        try:

            def alive(process=process, log=log):
                assert process.poll() is None, log.read_text()[-3000:]

            jwt = wait_for(token, 300, "token for the admin", alive)
            dags = requests.get(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {jwt}"}, timeout=30)
            assert dags.status_code == 200, dags.text[:500]
            wrong = requests.post(f"{url}/auth/token", json={**admin, "password": "not-it"}, timeout=10)
            assert wrong.status_code == 401
            assert requests.get(f"{url}/api/v2/dags", timeout=10).status_code == 401
        finally:
            confined.stop(process)
            container.remove()
        record(f"airflow-apiserver ({round_})", usage.stop(), service)


def test_the_receiver_sees_only_its_volumes_and_what_it_stages_reaches_the_warehouse(initialised):
    service = initialised.services["cdr-receiver"]
    token = DOTENV["CDR_VOICENTER_TOKEN"]
    port = free_port()
    container = initialised.container("cdr-receiver")
    env = {
        **initialised.env("cdr-receiver", container),
        "CDR_RECEIVER_HOST": "127.0.0.1",
        "CDR_RECEIVER_PORT": str(port),
    }
    log = ARTIFACTS / "e2e-compose-receiver.log"
    process = container.popen(initialised.argv("cdr-receiver", container), env, log)
    usage = confined.Usage(process.pid)
    url = f"http://127.0.0.1:{port}"
    shared = initialised.volumes["cdr-data"]
    before = sorted(shared.rglob("*"))
    try:

        def healthy():
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"{url}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 120, "a healthy receiver")
        post_all(url, token, AFTER)
        # what is not a CDR (no id) is refused; odd values in a CDR are not (issue 28)
        refused = post(url, token, {"caller": "0501234567", "time": "not a time", "duration": -5}, "json")
        assert refused.status_code == 400 and refused.json()["Err"] == 1
    finally:
        confined.stop(process)
        container.remove()
    record("cdr-receiver", usage.stop(), service)
    assert process.returncode == 0 or process.returncode == -15, log.read_text()[-3000:]

    # Its two volumes got what it wrote; the shared data volume (the lake's, the warehouse's) nothing.
    landing, quarantine = initialised.volumes["voicenter-landing"], initialised.volumes["voicenter-quarantine"]
    assert set(staged_ids(landing)) >= {cdr["ivruniqueid"] for cdr in AFTER}
    assert len(list(quarantine.rglob("*.bin"))) == 1 and len(list(quarantine.rglob("*.json"))) == 1
    assert sorted(shared.rglob("*")) == before

    # The scheduler's container runs the tasks: the loader finds the landing volume under its CDR_DATA_DIR.
    scheduler = initialised.services["airflow-scheduler"]
    for dag_id in ("voicenter_cdrs", "cdr_warehouse"):
        container = initialised.container("airflow-scheduler")
        argv = [initialised.inside(container, "/opt/cdr/.venv/bin/airflow"), "dags", "test", dag_id, DAY]
        env = initialised.env("airflow-scheduler", container)
        process = container.popen(argv, env, ARTIFACTS / f"e2e-compose-{dag_id}.log")
        usage = confined.Usage(process.pid)
        try:
            process.wait(timeout=900)
        finally:
            confined.stop(process)
            container.remove()
        output = (ARTIFACTS / f"e2e-compose-{dag_id}.log").read_text()
        assert process.returncode == 0 and "state=success" in output, output[-3000:]
        record(f"airflow-scheduler: dags test {dag_id}", usage.stop(), scheduler)

    assert not list(landing.glob("*.jsonl")), "every sealed segment is loaded"
    warehouse = initialised.volumes["cdr-data"] / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select source_cdr_id from marts.fct_cdr where source = 'voicenter'").fetchall()
    ids = [row[0] for row in rows]
    assert sorted(ids) == sorted(cdr["ivruniqueid"] for cdr in CDRS)  # each once, from before and after


COMPONENTS = ["airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"]


def test_the_airflow_components_run_confined_and_pass_their_healthchecks(initialised):
    """The scheduler, the dag-processor and the triggerer, started as their services are, stay up, pass the
    compose file's own healthcheck (run in a container of the same service) and the DAGs get parsed."""
    running = {}
    try:
        for name in COMPONENTS:
            container = initialised.container(name)
            log = ARTIFACTS / f"e2e-compose-{name}.log"
            env = {**initialised.env(name, container), "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
            process = container.popen(initialised.argv(name, container), env, log)
            running[name] = (container, process, confined.Usage(process.pid), log)

        def alive():
            for name, (_, process, _, log) in running.items():
                assert process.poll() is None, f"{name} stopped:\n{log.read_text()[-3000:]}"

        def parsed() -> bool:
            con = psycopg2.connect(initialised.database_url.replace("postgresql+psycopg2", "postgresql"))
            try:
                with con.cursor() as cur:
                    cur.execute("select dag_id from serialized_dag")
                    return {"voicenter_cdrs", "cdr_warehouse", "kazoo_cdrs"} <= {row[0] for row in cur.fetchall()}
            finally:
                con.close()

        wait_for(parsed, 300, "DAGs parsed by the confined dag-processor", alive)
        for name in COMPONENTS:
            test = initialised.services[name]["healthcheck"]["test"]
            assert test[0] == "CMD"
            check = initialised.container(name)
            log = ARTIFACTS / f"e2e-compose-{name}-healthcheck.log"

            def healthy(check=check, test=test, name=name, log=log) -> bool:
                result = subprocess.run(
                    check.command(test[1:]),
                    env=initialised.env(name, check),
                    capture_output=True,
                    text=True,
                    start_new_session=True,
                )
                log.write_text(result.stdout + result.stderr)
                return result.returncode == 0

            try:
                wait_for(healthy, 180, f"{name}'s healthcheck passing (see {log.name})", alive)
            finally:
                check.remove()
        alive()
    finally:
        for container, process, _, _ in running.values():
            confined.stop(process)
            container.remove()
    for name, (_, _, usage, _) in running.items():
        record(name, usage.stop(), initialised.services[name])


REDIS_SERVICES = [(COMPOSE, "redis", "REDIS_PASSWORD"), (CELERY, "celery-broker", "CELERY_BROKER_PASSWORD")]


@pytest.mark.parametrize("path, name, secret", REDIS_SERVICES, ids=[name for _, name, _ in REDIS_SERVICES])
def test_redis_takes_its_password_without_a_command_line(tmp_path, path, name, secret):
    why = confined.unavailable()
    if why:
        pytest.skip(why)
    base = yaml.safe_load(COMPOSE.read_text())["services"]
    service = yaml.safe_load(path.read_text())["services"][name]
    service = resolve(_merge_service(base.get(name, {}), service), DOTENV)
    data = tmp_path / "data"
    data.mkdir()
    (inside_path,) = [str(volume).split(":")[1] for volume in service["volumes"]]
    container = confined.Container({inside_path: data}, workdir=inside_path, network=True)
    env = {"PATH": os.environ["PATH"], **service["environment"]}
    log = ARTIFACTS / f"e2e-compose-{name}.log"
    process = container.popen(service["command"], env, log)
    usage = confined.Usage(process.pid)
    password = DOTENV[secret]

    def inside(*argv: str, auth: bool) -> subprocess.CompletedProcess:
        """A command in the server's network namespace (its healthcheck runs there too)."""
        extra = {"REDISCLI_AUTH": password} if auth else {}
        env = {"PATH": os.environ["PATH"], **extra}
        return subprocess.run(
            ["nsenter", f"--net=/proc/{process.pid}/ns/net", *argv], env=env, capture_output=True, text=True
        )

    def alive():
        assert process.poll() is None, log.read_text()[-3000:]

    try:
        # Until unshare has made the container's network, the process is in the host's, where another Redis may
        # answer on 6379 (this machine's own does).
        wait_for(lambda: confined.has_own_network(process.pid), 30, f"{name}'s network namespace", alive)
        wait_for(lambda: inside("redis-cli", "ping", auth=True).stdout.strip() == "PONG", 60, name, alive)
        assert "NOAUTH" in inside("redis-cli", "ping", auth=False).stdout
        healthcheck = service["healthcheck"]["test"]
        assert healthcheck[0] == "CMD-SHELL"
        probe = subprocess.run(
            ["nsenter", f"--net=/proc/{process.pid}/ns/net", "sh", "-c", healthcheck[1]],
            env={"PATH": os.environ["PATH"], **service["environment"]},
        )
        assert probe.returncode == 0
        settings = inside("redis-cli", "config", "get", "*", auth=True).stdout.splitlines()
        config = dict(zip(settings[::2], settings[1::2], strict=True))
        assert bytes_of(config["maxmemory"]) < bytes_of(service["mem_limit"])
        assert config["maxmemory-policy"] == "noeviction"
        assert config["appendonly"] == ("yes" if name == "redis" else "no")
        # Nowhere the host's other users can read: any process's command line (/proc/<pid>/cmdline is world-
        # readable), the server's included.
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert password.encode() not in cmdline, cmdline
    finally:
        confined.stop(process)
        container.remove()
    record(name, usage.stop(), service)
    if name == "redis":
        assert list(data.rglob("*.aof")), "the append-only file is in the data volume"
