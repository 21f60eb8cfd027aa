"""The production deployment (docker-compose.yaml, Dockerfile) read as text: no Docker needed.

tests/e2e/test_compose_confined.py runs the services as this file writes them, confined as their containers are.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
CELERY = ROOT / "docker-compose.celery.yaml"
PRODUCTION_DOCS = ROOT / "docs" / "production.md"
INIT_SCRIPT = "/opt/cdr/include/docker/airflow-init.sh"  # include/docker/airflow-init.sh in the image

AIRFLOW_COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
}
AIRFLOW_SERVICES = sorted([*AIRFLOW_COMMANDS, "airflow-init"])
RECEIVER = "cdr-receiver"
RECEIVER_VOLUMES = {"voicenter-landing": "landing/voicenter", "voicenter-quarantine": "quarantine/voicenter"}
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# The images pulled from a registry, each pinned by the digest .env gives (docs/production.md).
DIGESTS = {"postgres": "POSTGRES_DIGEST", "redis": "REDIS_DIGEST"}
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
WORKERS = ["airflow-worker", "airflow-worker-warehouse"]  # docker-compose.celery.yaml's
ALL_SERVICES = ["postgres", "redis", *AIRFLOW_SERVICES, RECEIVER]
CONNECTIONS = ["AIRFLOW_CONN_KAZOO_DEFAULT", "AIRFLOW_CONN_PBX_DEFAULT", "AIRFLOW_CONN_ENIGMA_DEFAULT"]
TASK_ONLY = [*CONNECTIONS, "AIRFLOW_CONN_SMTP_DEFAULT", "AIRFLOW_VAR_CDR_REPORT_RECIPIENTS"]
# What .env must hold: without any one of them the stack refuses to start.
REQUIRED = [
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "CDR_VOICENTER_TOKEN",
    "POSTGRES_DIGEST",
    "REDIS_DIGEST",
    "PYTHON_DIGEST",
]


def dotenv(names: list[str]) -> dict[str, str]:
    """A value for each name, distinct from every other; a digest's in a digest's form."""
    return {
        name: f"sha256:{hashlib.sha256(name.encode()).hexdigest()}"
        if name.endswith("_DIGEST")
        else f"{name.lower()}-value"
        for name in names
    }


DOTENV = dotenv(REQUIRED)
SECRETS = {name: value for name, value in DOTENV.items() if not name.endswith("_DIGEST")}
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


def mounts(service: dict) -> dict[str, str]:
    """Mount point -> volume (short syntax, as this file writes them)."""
    return {str(v).split(":")[1]: str(v).split(":")[0] for v in service.get("volumes") or []}


def redis_config(service: dict) -> dict[str, str]:
    """The configuration a Redis service hands redis-server on its standard input (a here-document)."""
    command = command_of(service)
    assert command[:2] == ["sh", "-c"], command
    script = command[2].splitlines()
    assert re.match(r"^exec redis-server - <<EOF$", script[0]), script[0]
    body = script[1 : script.index("EOF")]
    return dict(line.split(None, 1) for line in body if line.strip())


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


@pytest.mark.parametrize("name", sorted(AIRFLOW_COMMANDS))
def test_airflow_service_runs_its_subcommand(services, name):
    assert command_of(services[name]) == ["airflow", *AIRFLOW_COMMANDS[name]]


def test_init_moves_the_earlier_staging_migrates_and_creates_the_admin_from_stdin(services):
    init = services["airflow-init"]
    assert command_of(init) == ["sh", INIT_SCRIPT]
    script = (ROOT / INIT_SCRIPT.removeprefix("/opt/cdr/")).read_text()
    steps = [line for line in script.splitlines() if line and not line.startswith(("#", " "))]
    assert steps[0] == "set -eu"
    assert steps[1].startswith("python -m cdr.sources.voicenter.relocate")
    assert steps[2] == "airflow db migrate"
    # The password on stdin (the prompt and its confirmation), from the environment; never an argument.
    assert steps[3].startswith(
        'printf \'%s\\n%s\\n\' "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_PASSWORD" | airflow users create'
    )
    create = re.sub(r"\\\n\s*", " ", script[script.index("airflow users create") :])
    assert "--password" not in create and "--use-random-password" not in create
    assert "--role Admin" in create and '--username "$AIRFLOW_ADMIN_USER"' in create
    # Where the earlier layout staged: the data volume mounted a second time, without the receiver's volume.
    env = env_of(init)
    old, new = steps[1].split()[3:5]
    assert (old, new) == ('"$CDR_DATA_VOLUME_DIR/landing/voicenter"', '"$CDR_DATA_DIR/landing/voicenter"')
    assert mounts(init)[env["CDR_DATA_VOLUME_DIR"]] == "cdr-data"
    assert mounts(init)[env["CDR_DATA_DIR"] + "/landing/voicenter"] == "voicenter-landing"


def test_the_admin_password_goes_to_the_init_service_only(services):
    for name, service in services.items():
        env = env_of(service)
        if name == "airflow-init":
            assert SECRET_REFERENCE.match(env["AIRFLOW_ADMIN_PASSWORD"])
            assert env["AIRFLOW_ADMIN_USER"] == "${AIRFLOW_ADMIN_USER:-admin}"
        else:
            assert "AIRFLOW_ADMIN_PASSWORD" not in env, name


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
    assert services["postgres"]["image"].startswith("postgres:16@")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["image"].startswith("redis:7@")
    config = redis_config(services["redis"])
    assert config["appendonly"] == "yes"  # a restart keeps what the dialer pushed
    assert config["maxmemory-policy"] == "noeviction"  # past maxmemory a push is refused, never a CDR dropped
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


def test_the_receiver_mounts_only_its_own_two_volumes(services):
    """Not the shared data volume (the lake, the warehouse, build/ and the salt of the masked copy), not Airflow's
    logs: only where it stages and where it keeps the bodies it refused, under its own CDR_DATA_DIR."""
    receiver = services[RECEIVER]
    data = env_of(receiver)["CDR_DATA_DIR"]
    assert mounts(receiver) == {f"{data}/{folder}": volume for volume, folder in RECEIVER_VOLUMES.items()}
    for name, service in services.items():
        if name != RECEIVER:
            assert "voicenter-quarantine" not in volume_sources(service), name


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_finds_the_receiver_staging_where_its_data_dir_has_it(services, name):
    service = services[name]
    data = env_of(service)["CDR_DATA_DIR"]
    assert mounts(service)[data] == "cdr-data"
    assert mounts(service)[f"{data}/landing/voicenter"] == "voicenter-landing"


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
    # The server takes its password from REDISCLI_AUTH (on its standard input, see redis_config), and the
    # healthcheck's redis-cli authenticates with it too (a redis with a password answers NOAUTH to a bare ping).
    assert resolved["redis"]["environment"]["REDISCLI_AUTH"] == DOTENV["REDIS_PASSWORD"]
    assert redis_config(resolved["redis"])["requirepass"] == '"$REDISCLI_AUTH"'


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


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_the_ui_users_are_fab_s_in_the_database(services, name):
    """The simple auth manager, which Airflow documents as for development, kept its generated passwords in
    the container's files: every component runs the FAB auth manager, whose users are in PostgreSQL."""
    env = env_of(services[name])
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB
    assert not [key for key in env if "SIMPLE_AUTH_MANAGER" in key]


def test_production_is_documented():
    readme = (ROOT / "README.md").read_text()
    production = readme[readme.index("## Production") :]
    assert "docs/production.md" in production
    docs = PRODUCTION_DOCS.read_text()
    for words in (
        *REQUIRED,
        "FabAuthManager",
        "reverse_proxy 127.0.0.1:8080",
        "docker buildx imagetools inspect",
        "voicenter-landing",
        "voicenter-quarantine",
        "read_only",
        "no-new-privileges",
        "mem_limit",
        "pids_limit",
        "docker compose down",
    ):
        assert words in docs, f"docs/production.md must document {words}"


def test_the_fab_provider_is_in_the_locked_install():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "apache-airflow-providers-fab==3.10.2" in project["project"]["dependencies"]
    assert re.search(r'name = "apache-airflow-providers-fab"\nversion = "3\.10\.2"', (ROOT / "uv.lock").read_text())


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, RECEIVER])
def test_same_image(services, name):
    assert services[name]["image"] == "cdr-warehouse:latest"
    build = services[name]["build"]
    assert build["context"] == "." and list(build["args"]) == ["PYTHON_DIGEST"]
    assert build["args"]["PYTHON_DIGEST"].startswith("${PYTHON_DIGEST:?")  # the base image, pinned (.env)


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
    # The base image by digest: PYTHON_DIGEST from .env (docker-compose.yaml), else the one reviewed here.
    assert re.search(r"^FROM python:3\.11-slim-bookworm@\$\{PYTHON_DIGEST\}$", text, re.M)
    default = re.search(r"^ARG PYTHON_DIGEST=(\S+)$", text, re.M).group(1)
    assert DIGEST.match(default) and f"PYTHON_DIGEST={default}" in PRODUCTION_DOCS.read_text()
    assert "uv==0.13.9" in text
    assert re.search(r"^RUN .*\buv sync --frozen --no-dev\s*$", logical, re.M)
    assert "UV_PYTHON_DOWNLOADS=never" in logical
    assert re.search(r"import cdr\.venv_defaults.*>.*purelib.*/cdr_venv_defaults\.pth", logical)
    assert re.search(r"^USER airflow\s*$", text, re.M)
    assert "--uid 50000" in logical
    assert "/opt/cdr/.venv/bin" in logical
    for copied in ("pyproject.toml", "uv.lock", "README.md", "plugins/", "dags/", "dbt_project/", "include/"):
        assert re.search(rf"^COPY .*\b{re.escape(copied)}", text, re.M), f"Dockerfile does not copy {copied}"
    # Nothing outside the lock: the providers, the PostgreSQL driver included, come from uv.lock.
    assert "uv pip install" not in logical


def test_the_image_runs_on_a_read_only_root():
    """What a container with a read-only root must find ready in the image (tests/e2e/test_compose_confined.py
    runs the services so)."""
    text = DOCKERFILE.read_text()
    logical = re.sub(r"\\\n", " ", text)
    env = {}
    for line in logical.splitlines():
        if line.startswith("ENV "):
            env.update(part.split("=", 1) for part in shlex.split(line[4:]))
    # An airflow.cfg, so that Airflow does not write one into AIRFLOW_HOME.
    assert env["AIRFLOW_CONFIG"] == "/opt/cdr/include/docker/airflow.cfg"
    assert (ROOT / "include" / "docker" / "airflow.cfg").is_file()
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    assert "compileall" in logical  # the project's own code, compiled at build time
    # Every volume's mount point exists in the image, owned by the airflow user and closed to others: a new named
    # volume takes the owner and mode of the folder it is first mounted on.
    owned = {
        path: int(mode, 8)
        for mode, paths in re.findall(r"install -d -o airflow -g airflow -m (\d+) ([^&]+)", logical)
        for path in paths.split()
    }
    with open(COMPOSE) as fh:
        compose = yaml.safe_load(fh)
    for name, service in compose["services"].items():
        if service.get("image") == "cdr-warehouse:latest":
            for point in mounts(service):
                assert point in owned, f"{name} mounts a volume on {point}, which the image does not own"
                assert owned[point] & 0o007 == 0, f"{point} is open to others"


# Every service of both files, merged as compose merges them (see _merge_service below).
def every_service() -> dict[str, dict]:
    base = yaml.safe_load(COMPOSE.read_text())["services"]
    overlay = yaml.safe_load(CELERY.read_text())["services"]
    return {**base, **{name: _merge_service(base.get(name, {}), service) for name, service in overlay.items()}}


HARDENED = [*sorted(yaml.safe_load(COMPOSE.read_text())["services"]), "celery-broker", *WORKERS]


@pytest.mark.parametrize("name", HARDENED)
def test_every_service_is_hardened(name):
    service = every_service()[name]
    assert service.get("read_only") is True, f"{name}: read_only"
    assert "no-new-privileges:true" in service.get("security_opt", []), f"{name}: no-new-privileges"
    assert service.get("cap_drop") == ["ALL"], f"{name}: cap_drop"
    assert re.fullmatch(r"\d+[kmg]", str(service.get("mem_limit"))), f"{name}: mem_limit"
    assert isinstance(service.get("pids_limit"), int) and service["pids_limit"] > 0, f"{name}: pids_limit"
    assert any(str(t).split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), f"{name}: a tmpfs on /tmp"
    # Without capabilities, a root entrypoint could not switch users: each image runs as its own user.
    if service["image"] == "cdr-warehouse:latest":
        assert re.search(r"^USER airflow\s*$", DOCKERFILE.read_text(), re.M)
    else:
        assert service.get("user") == service["image"].split(":")[0], f"{name}: user"


def test_no_secret_on_any_command_line():
    """A container's command line is in `ps` for every user of the host (and in `docker inspect`): no secret
    there, nor in a healthcheck's, once compose has put .env into the file."""
    values = {**SECRETS, **{k: v for k, v in CELERY_DOTENV.items() if not k.endswith("_DIGEST")}}
    for name, service in resolve(every_service(), CELERY_DOTENV).items():
        lines = [service.get("command"), service.get("entrypoint"), (service.get("healthcheck") or {}).get("test")]
        for secret, value in values.items():
            assert value not in str(lines), f"{name}: {secret} on a command line"


@pytest.mark.parametrize("name", ["postgres", "redis", "celery-broker"])
def test_pulled_images_are_pinned_by_digest(name):
    service = every_service()[name]
    repository = service["image"].split(":")[0]
    variable = DIGESTS[repository]
    assert re.fullmatch(rf"{repository}:\d+@\$\{{{variable}:\?[^}}]+\}}", service["image"]), service["image"]
    resolved = resolve(service, CELERY_DOTENV)["image"]
    assert DIGEST.match(resolved.split("@")[1])
    with pytest.raises(KeyError, match=variable):
        resolve(service, {k: v for k, v in CELERY_DOTENV.items() if k != variable})


def test_the_docs_pin_every_image_by_a_digest():
    """docs/production.md's example .env: a digest for each image, in a digest's form, and the command that
    gets a current one."""
    docs = PRODUCTION_DOCS.read_text()
    for variable in ("POSTGRES_DIGEST", "REDIS_DIGEST", "PYTHON_DIGEST"):
        found = re.findall(rf"^{variable}=(\S+)", docs, re.M)
        assert any(DIGEST.match(value) for value in found), (variable, found)
    for image in ("postgres:16", "redis:7", "python:3.11-slim-bookworm"):
        assert f"docker buildx imagetools inspect {image}" in docs


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
    assert any(str(v).startswith("voicenter-landing:") for v in receiver["volumes"])


# The CeleryExecutor deployment: docker-compose.celery.yaml laid over docker-compose.yaml, merged here by compose's
# rules for the keys it uses (no Docker needed): mappings merge key by key (environment, depends_on, healthcheck),
# `volumes` merge by mount point, a `command` or any scalar is replaced.
CELERY_REQUIRED = [*REQUIRED, "CELERY_BROKER_PASSWORD"]
CELERY_DOTENV = dotenv(CELERY_REQUIRED)


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
        assert "voicenter-landing:/opt/cdr/data/landing/voicenter" in service["volumes"]
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
