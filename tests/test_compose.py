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
TASK_ONLY = [*CONNECTIONS, "AIRFLOW_CONN_SMTP_DEFAULT", "AIRFLOW_VAR_CDR_REPORT_RECIPIENTS"]
# What .env must hold: without any one of them the stack refuses to start.
REQUIRED = [
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_FERNET_KEY",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "CDR_VOICENTER_TOKEN",
]
DOTENV = {name: f"{name.lower()}-value" for name in REQUIRED}
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
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_environment(services, name):
    env = env_of(services[name])
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "CDR_DATA_DIR" in env
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert key in env, f"{name} lacks {key}: every component shares it"


def test_source_connections_go_only_where_tasks_run(services):
    """The LocalExecutor runs tasks in the scheduler: no other service holds a source's credentials."""
    for name, service in services.items():
        env = env_of(service)
        for key in TASK_ONLY:
            if name == "airflow-scheduler":
                assert ENV_REFERENCE.match(env[key]), f"{key} must come from the operator's environment"
            else:
                assert key not in env, f"{name} must not get {key}"


def test_the_receiver_gets_only_its_own_settings(services):
    receiver = services[RECEIVER]
    env = env_of(receiver)
    assert all(key.startswith("CDR_") for key in env), sorted(env)
    assert {"CDR_DATA_DIR", "CDR_RECEIVER_HOST", "CDR_RECEIVER_PORT", "CDR_VOICENTER_TOKEN"} <= set(env)
    resolved = resolve(services, DOTENV)[RECEIVER]["environment"]
    assert not any(value in str(resolved) for key, value in DOTENV.items() if key != "CDR_VOICENTER_TOKEN")
    assert volume_sources(receiver) == ["cdr-data"]  # not Airflow's logs


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one value: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    nested inside defaults, and $$ for a literal $."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0) if text[j - 1] == "$" or text[j] == "}" else 0
                j += 1
            body = text[i + 2 : j - 1]
            match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?$", body, re.S)
            name, op, arg = match.group(1), match.group(2), match.group(3) or ""
            value = env.get(name)
            unset = value is None or (op is not None and op.startswith(":") and value == "")
            if op and op.endswith("?") and unset:
                raise KeyError(f"{name}: {arg}")
            out.append(_interpolate(arg, env) if op and op.endswith("-") and unset else (value or ""))
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def resolve(node, env: dict[str, str]):
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, env) for value in node]
    return _interpolate(node, env) if isinstance(node, str) else node


def test_the_interpolation_used_here_is_compose_s():
    env = {"A": "1", "E": ""}
    assert _interpolate("x${A}y${B:-d}${E:-e}${E-f}$$", env) == "x1yde$"
    assert _interpolate("${B:-u://:${A}@h}", env) == "u://:1@h"
    with pytest.raises(KeyError):
        _interpolate("${E:?needed}", env)


@pytest.mark.parametrize("missing", REQUIRED)
def test_each_secret_is_required_from_dotenv(services, missing):
    resolve(services, DOTENV)  # all there: it starts
    with pytest.raises(KeyError, match=missing):
        resolve(services, {k: v for k, v in DOTENV.items() if k != missing})
    with pytest.raises(KeyError, match=missing):
        resolve(services, {**DOTENV, missing: ""})


def test_database_and_redis_passwords_come_from_dotenv(services):
    resolved = resolve(services, DOTENV)
    assert resolved["postgres"]["environment"]["POSTGRES_PASSWORD"] == DOTENV["POSTGRES_PASSWORD"]
    for name in AIRFLOW_SERVICES:
        dsn = resolved[name]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert dsn == f"postgresql+psycopg2://airflow:{DOTENV['POSTGRES_PASSWORD']}@postgres/airflow"
        assert resolved[name]["environment"]["AIRFLOW__CORE__FERNET_KEY"] == DOTENV["AIRFLOW_FERNET_KEY"]
    redis_command = resolved["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == DOTENV["REDIS_PASSWORD"]
    # The healthcheck authenticates too (a redis with a password answers NOAUTH to a bare ping).
    assert resolved["redis"]["environment"]["REDISCLI_AUTH"] == DOTENV["REDIS_PASSWORD"]


def test_the_enigma_connection_carries_the_redis_password(services):
    from urllib.parse import urlsplit

    enigma = resolve(services, DOTENV)["airflow-scheduler"]["environment"]["AIRFLOW_CONN_ENIGMA_DEFAULT"]
    url = urlsplit(enigma)
    assert (url.scheme, url.hostname, url.port, url.password) == ("redis", "redis", 6379, DOTENV["REDIS_PASSWORD"])
    own = resolve(services, {**DOTENV, "AIRFLOW_CONN_ENIGMA_DEFAULT": "redis://:other@dialer:6379/0"})
    assert own["airflow-scheduler"]["environment"]["AIRFLOW_CONN_ENIGMA_DEFAULT"] == "redis://:other@dialer:6379/0"


def test_nothing_listens_beyond_loopback_by_default(services):
    resolved = resolve(services, DOTENV)
    assert resolved["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]
    for name, service in resolved.items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    moved = resolve(services, {**DOTENV, "AIRFLOW_UI_BIND": "10.0.0.5"})
    assert moved["airflow-apiserver"]["ports"] == ["10.0.0.5:8080:8080"]


def test_the_ui_users_are_configured_and_documented(services):
    env = env_of(services["airflow-apiserver"])
    assert ENV_REFERENCE.match(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"])
    readme = (ROOT / "README.md").read_text()
    for words in (
        "AIRFLOW_UI_USERS",
        "simple_auth_manager_passwords.json.generated",
        "reverse_proxy 127.0.0.1:8080",
        "REDIS_PASSWORD",
        "POSTGRES_PASSWORD",
        "AIRFLOW_FERNET_KEY",
    ):
        assert words in readme, f"README's Production section must document {words}"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_same_image(services, name):
    assert services[name]["image"] == "cdr-warehouse:latest"
    assert services[name]["build"] == "."


def test_api_server_published_with_healthcheck(services):
    apiserver = services["airflow-apiserver"]
    assert [str(p).endswith(":8080:8080") for p in apiserver["ports"]] == [True]
    assert "/api/v2/version" in " ".join(apiserver["healthcheck"]["test"])


@pytest.mark.parametrize(
    "name, job_type",
    [
        ("airflow-scheduler", "SchedulerJob"),
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ],
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
    assert receiver["image"] == "cdr-warehouse:latest"
    assert env["CDR_RECEIVER_HOST"] == "0.0.0.0" and env["CDR_RECEIVER_PORT"] == "8088"
    assert SECRET_REFERENCE.match(env["CDR_VOICENTER_TOKEN"]) and env["CDR_VOICENTER_TOKEN"].startswith("${")
    assert env["CDR_DATA_DIR"] == "/opt/cdr/data"
    assert [str(p) for p in receiver["ports"]] == ["127.0.0.1:8088:8088"]
    assert "/healthz" in " ".join(receiver["healthcheck"]["test"])
    assert any(str(v).startswith("cdr-data:") for v in receiver["volumes"])


# The CeleryExecutor deployment: docker-compose.celery.yaml laid over docker-compose.yaml, merged here by compose's
# rules for the keys it uses (no Docker needed): mappings merge key by key (environment, depends_on, healthcheck),
# `volumes` merge by mount point, a `command` or any scalar is replaced.
CELERY = ROOT / "docker-compose.celery.yaml"
WORKERS = ["airflow-worker", "airflow-worker-warehouse"]
CELERY_REQUIRED = [*REQUIRED, "CELERY_BROKER_PASSWORD"]
CELERY_DOTENV = {name: f"{name.lower()}-value" for name in CELERY_REQUIRED}


def _merge_service(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if key == "volumes":
            mounts = {str(v).split(":")[1]: v for v in base.get("volumes") or []}
            mounts.update({str(v).split(":")[1]: v for v in value})
            out[key] = list(mounts.values())
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = {**base[key], **value}
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def celery_overlay() -> dict:
    return yaml.safe_load(CELERY.read_text())


@pytest.fixture(scope="module")
def celery_services(services, celery_overlay) -> dict:
    merged = dict(services)
    for name, service in celery_overlay["services"].items():
        merged[name] = _merge_service(services.get(name, {}), service)
    return merged


def test_celery_overlay_adds_workers_and_a_broker_and_keeps_every_base_service(celery_services):
    assert set(ALL_SERVICES) < set(celery_services)
    assert {"celery-broker", *WORKERS} <= set(celery_services)
    assert celery_services["celery-broker"]["image"].startswith("redis:")


@pytest.mark.parametrize("name", [*sorted(set(AIRFLOW_SERVICES) - {"airflow-init"}), *WORKERS])
def test_celery_every_component_runs_the_celery_executor_on_the_same_broker_and_backend(celery_services, name):
    resolved = resolve(celery_services, CELERY_DOTENV)
    env = resolved[name]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == (
        f"redis://:{CELERY_DOTENV['CELERY_BROKER_PASSWORD']}@celery-broker:6379/0"
    )
    # the result backend is the metadata database, through SQLAlchemy (Celery's db+ scheme)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        f"db+postgresql://airflow:{CELERY_DOTENV['POSTGRES_PASSWORD']}@postgres/airflow"
    )
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert env[key] == resolved["airflow-apiserver"]["environment"][key]  # one secret across components
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_celery_the_base_file_alone_is_still_the_local_executor(services):
    for name in AIRFLOW_SERVICES:
        assert env_of(services[name])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert "AIRFLOW__CELERY__BROKER_URL" not in env_of(services[name])


def test_celery_workers_scale_and_run_celery_worker(celery_services):
    worker = celery_services["airflow-worker"]
    command = command_of(worker)
    assert command[:3] == ["airflow", "celery", "worker"]
    assert command[command.index("--queues") + 1] == "default"
    # --scale needs services with no fixed name and no published port
    assert "container_name" not in worker and not worker.get("ports")
    # each worker pings itself by its container's host name ($$: compose leaves the $ to the shell)
    ping = resolve(worker, CELERY_DOTENV)["healthcheck"]["test"][-1]
    assert "celery_executor.app inspect ping" in ping and 'celery@${HOSTNAME}"' in ping
    for name in WORKERS:
        service = celery_services[name]
        assert "cdr-data:/opt/cdr/data" in service["volumes"]
        assert service["depends_on"]["celery-broker"]["condition"] == "service_healthy"
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert service["image"] == "cdr-warehouse:latest"


def test_celery_the_warehouse_build_has_its_own_worker_queue(celery_services):
    resolved = resolve(celery_services, CELERY_DOTENV)
    command = resolved["airflow-worker-warehouse"]["command"]
    queues = command[command.index("--queues") + 1].split(",")
    assert queues[0] == resolved["airflow-dag-processor"]["environment"]["CDR_WAREHOUSE_QUEUE"] == "warehouse"
    assert "warehouse" not in command_of(celery_services["airflow-worker"])
    moved = resolve(celery_services, {**CELERY_DOTENV, "CDR_WAREHOUSE_QUEUE": "builder"})
    assert moved["airflow-worker-warehouse"]["command"][command.index("--queues") + 1].startswith("builder,")
    assert moved["airflow-dag-processor"]["environment"]["CDR_WAREHOUSE_QUEUE"] == "builder"


def test_celery_connections_go_to_the_workers_and_leave_the_scheduler(celery_services):
    resolved = resolve(celery_services, {**CELERY_DOTENV, "AIRFLOW_CONN_KAZOO_DEFAULT": "kazoo-conn"})
    assert resolved["airflow-scheduler"]["environment"]["AIRFLOW_CONN_KAZOO_DEFAULT"] == ""
    for name in WORKERS:
        env = resolved[name]["environment"]
        assert env["AIRFLOW_CONN_KAZOO_DEFAULT"] == "kazoo-conn"
        assert env["AIRFLOW_CONN_ENIGMA_DEFAULT"].endswith("@redis:6379/0")
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-triggerer", RECEIVER, "celery-broker"):
        assert "kazoo-conn" not in str(resolved[name])


@pytest.mark.parametrize("missing", CELERY_REQUIRED)
def test_celery_each_secret_is_required(celery_services, missing):
    resolve(celery_services, CELERY_DOTENV)
    with pytest.raises(KeyError, match=missing):
        resolve(celery_services, {k: v for k, v in CELERY_DOTENV.items() if k != missing})


def test_celery_no_literal_secrets_and_nothing_beyond_loopback(celery_services):
    test_no_literal_secrets(celery_services)
    for name, service in resolve(celery_services, CELERY_DOTENV).items():
        for port in service.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert not celery_services["celery-broker"].get("ports")  # the broker stays on the compose network


def test_celery_volumes_are_declared(compose, celery_overlay, celery_services):
    declared = set(compose.get("volumes") or {}) | set(celery_overlay.get("volumes") or {})
    for name, service in celery_services.items():
        for source in volume_sources(service):
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_celery_the_executor_is_in_the_locked_install():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(dep.startswith("apache-airflow-providers-celery") for dep in project["project"]["dependencies"])
    lock = (ROOT / "uv.lock").read_text()
    assert 'name = "apache-airflow-providers-celery"' in lock and 'name = "celery"' in lock
