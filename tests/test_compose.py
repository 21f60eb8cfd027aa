"""The production deployment (docker-compose.yaml, Dockerfile) read as text: no Docker needed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

AIRFLOW_COMMANDS = {
    "airflow-init": ["db", "migrate"],
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
}
AIRFLOW_SERVICES = sorted(AIRFLOW_COMMANDS)
RECEIVER = "cdr-receiver"
ALL_SERVICES = ["postgres", "redis", *AIRFLOW_SERVICES, RECEIVER]
CONNECTIONS = ["AIRFLOW_CONN_KAZOO_DEFAULT", "AIRFLOW_CONN_PBX_DEFAULT", "AIRFLOW_CONN_ENIGMA_DEFAULT"]
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "FERNET", "JWT", "API_KEY")
# A whole value that is one compose interpolation: ${VAR}, ${VAR:-default}, ${VAR:?message}, ...
ENV_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+]).*)?\}$")
# For secrets, a default would be a literal secret: only ${VAR}, ${VAR:?message} or an empty ${VAR:-}.
SECRET_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves anchors, aliases and `<<:` merge keys.
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or as KEY=VALUE items."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {str(key): None if value is None else str(value) for key, value in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def volume_sources(service: dict) -> list[str]:
    sources = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            sources.append(str(volume.get("source")))
        else:
            sources.append(str(volume).split(":", 1)[0])
    return sources


def depends_on(service: dict) -> set[str]:
    deps = service.get("depends_on") or []
    return set(deps)  # a list of names or a mapping name -> condition


def test_parses_as_a_mapping(compose):
    assert isinstance(compose, dict)
    assert isinstance(compose.get("services"), dict)


@pytest.mark.parametrize("name", ALL_SERVICES)
def test_service_exists(services, name):
    assert name in services, f"{name} missing from docker-compose.yaml"
    assert isinstance(services[name], dict)


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_runs_its_subcommand(services, name):
    assert command_of(services[name]) == ["airflow", *AIRFLOW_COMMANDS[name]]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_mounts_the_shared_data_volume(services, name):
    service = services[name]
    assert "cdr-data" in volume_sources(service)
    assert "cdr-data:/opt/cdr/data" in [str(v) for v in service["volumes"]]
    assert env_of(service)["CDR_DATA_DIR"] == "/opt/cdr/data"


def test_data_volume_is_declared(compose):
    assert "cdr-data" in (compose.get("volumes") or {})


def test_every_named_volume_is_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source in volume_sources(service):
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_service_depends_on_postgres(services, name):
    deps = services[name]["depends_on"]
    assert "postgres" in depends_on(services[name])
    assert deps["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", sorted(set(AIRFLOW_SERVICES) - {"airflow-init"}))
def test_airflow_service_waits_for_init(services, name):
    assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_init_runs_once(services):
    assert services["airflow-init"].get("restart") in ("no", False, None)


def test_backing_services(services):
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["image"].startswith("redis:")
    redis_command = command_of(services["redis"])
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert "ping" in services["redis"]["healthcheck"]["test"]


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_environment(services, name):
    env = env_of(services[name])
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    for key in [*CONNECTIONS, "CDR_DATA_DIR"]:
        assert key in env, f"{name} lacks {key}"
    for key in CONNECTIONS:
        assert ENV_REFERENCE.match(env[key]), f"{name}: {key} must come from the operator's environment"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_same_image(services, name):
    assert services[name]["image"] == "cdr-warehouse:latest"
    assert services[name]["build"] == "."


def test_api_server_published_with_healthcheck(services):
    apiserver = services["airflow-apiserver"]
    assert "8080:8080" in [str(p) for p in apiserver["ports"]]
    assert "/api/v2/version" in " ".join(apiserver["healthcheck"]["test"])


@pytest.mark.parametrize(
    "name, job_type",
    [("airflow-scheduler", "SchedulerJob"), ("airflow-dag-processor", "DagProcessorJob"),
     ("airflow-triggerer", "TriggererJob")],
)
def test_job_healthchecks(services, name, job_type):
    test = services[name]["healthcheck"]["test"]
    assert test[1:5] == ["airflow", "jobs", "check", "--job-type"]
    assert job_type in test


def test_no_literal_secrets(services):
    for name, service in services.items():
        for key, value in env_of(service).items():
            if not any(word in key.upper() for word in SECRET_WORDS):
                continue
            if name == "postgres" and key == "POSTGRES_PASSWORD":
                continue  # the internal metadata database, never published
            assert value is not None and SECRET_REFERENCE.match(value), (
                f"{name}: {key} must be a ${{...}} reference to the operator's environment, not a literal"
            )


def test_dockerfile_builds_the_locked_venv():
    text = DOCKERFILE.read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", text, re.M)
    assert "uv==0.13.9" in text
    assert re.search(r"^RUN .*\buv sync --frozen --no-dev\s*$", logical, re.M)
    assert "UV_PYTHON_DOWNLOADS=never" in logical
    assert re.search(r"import cdr\.venv_defaults.*>.*purelib.*/cdr_venv_defaults\.pth", logical)
    assert re.search(r"^USER airflow\s*$", text, re.M)
    assert "--uid 50000" in logical
    assert "/opt/cdr/.venv/bin" in logical
    for copied in ("pyproject.toml", "uv.lock", "README.md", "plugins/", "dags/", "dbt_project/", "include/"):
        assert re.search(rf"^COPY .*\b{re.escape(copied)}", text, re.M), f"Dockerfile does not copy {copied}"


def test_the_voicenter_receiver_runs_behind_the_proxy_with_its_token_from_the_environment(services):
    receiver = services[RECEIVER]
    assert command_of(receiver) == ["cdr-receiver"]
    env = env_of(receiver)
    assert env["CDR_RECEIVER_HOST"] == "0.0.0.0" and env["CDR_RECEIVER_PORT"] == "8088"
    assert SECRET_REFERENCE.match(env["CDR_VOICENTER_TOKEN"]) and env["CDR_VOICENTER_TOKEN"].startswith("${")
    assert env["CDR_DATA_DIR"] == "/opt/cdr/data"
    assert [str(p) for p in receiver["ports"]] == ["127.0.0.1:8088:8088"]
    assert "/healthz" in " ".join(receiver["healthcheck"]["test"])
    assert any(str(v).startswith("cdr-data:") for v in receiver["volumes"])
