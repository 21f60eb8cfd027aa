# Production image of the CDR warehouse: one image for every Airflow component and the Voicenter receiver
# (see docker-compose.yaml, which builds it with PYTHON_DIGEST from .env). On its own:
#   docker build --build-arg PYTHON_DIGEST="$(docker buildx imagetools inspect python:3.11-slim-bookworm \
#       --format '{{.Manifest.Digest}}')" -t cdr-warehouse .
# The base image by digest, so that a build takes the image that was reviewed, not whatever the tag points at
# that day (docs/production.md, "Images pinned by digest"). The default is python:3.11.15-slim-bookworm.
ARG PYTHON_DIGEST=sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3
FROM python:3.11-slim-bookworm@${PYTHON_DIGEST}

# curl: the compose healthchecks probe the API server and the receiver over HTTP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

# Same uv as `make install`, so uv.lock is read exactly as on a developer's machine.
RUN pip install --no-cache-dir uv==0.13.9

# Use the image's Python, never a downloaded one; copy out of the cache so nothing links into a
# layer that is thrown away; precompile so each Airflow task process starts faster.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1

WORKDIR /opt/cdr

# Dependencies first, on their own layer: editing a DAG or a model then rebuilds in seconds.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY plugins/ plugins/
COPY dags/ dags/
COPY dbt_project/ dbt_project/
COPY include/ include/
# The project is installed editable: cdr.config finds dbt_project/ relative to plugins/cdr, so the
# package must stay in /opt/cdr rather than be copied into site-packages. uv compiles site-packages only:
# the project's own code is compiled here, as the containers' read-only root could not hold it later.
RUN uv sync --frozen --no-dev
RUN /opt/cdr/.venv/bin/python -m compileall -q plugins dags include

# Same .pth as `make install`: every process of the venv (airflow, dbt, task subprocesses) gets the
# project's defaults; the ENV below still wins since the defaults only fill what is unset.
RUN echo "import cdr.venv_defaults" \
    > "$(/opt/cdr/.venv/bin/python -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')/cdr_venv_defaults.pth"

# AIRFLOW_CONFIG: every setting comes from the environment, but Airflow writes a default airflow.cfg
# into AIRFLOW_HOME when it finds none, which a read-only root refuses; this one is empty. MPLCONFIGDIR:
# matplotlib (the daily report) keeps its font cache in a writable folder, the containers' /tmp.
ENV PATH=/opt/cdr/.venv/bin:$PATH \
    CDR_DATA_DIR=/opt/cdr/data \
    AIRFLOW_HOME=/opt/cdr/airflow \
    AIRFLOW_CONFIG=/opt/cdr/include/docker/airflow.cfg \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cdr/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cdr/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    MPLCONFIGDIR=/tmp/matplotlib \
    PYTHONUNBUFFERED=1

# uid 50000 as in the official Airflow image, so volumes carried over keep working. The code stays
# root-owned (and the containers' root filesystem is read-only besides); only the volumes' mount points
# are the airflow user's, because a new named volume takes the owner and mode of the folder it is first
# mounted on: the data, the receiver's two folders (its volumes in docker-compose.yaml), the logs. Their
# modes are cdr.access's: 0750, and setgid below the data folder; nothing open to others.
RUN groupadd --gid 50000 airflow \
    && useradd --uid 50000 --gid airflow --no-log-init --create-home --home-dir /home/airflow airflow \
    && install -d -o airflow -g airflow -m 0750 /opt/cdr/data /opt/cdr/data-volume /opt/cdr/airflow/logs \
    && install -d -o airflow -g airflow -m 2750 /opt/cdr/data/landing /opt/cdr/data/landing/voicenter \
        /opt/cdr/data/quarantine /opt/cdr/data/quarantine/voicenter

USER airflow

EXPOSE 8080 8088
