# Production image of the CDR warehouse: one image for every Airflow component and the Voicenter receiver
# (see docker-compose.yaml). Build from the repository root: docker build -t cdr-warehouse .
FROM python:3.11-slim-bookworm

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
# package must stay in /opt/cdr rather than be copied into site-packages.
RUN uv sync --frozen --no-dev

# The metadata database is PostgreSQL in production, which uv.lock (made for the SQLite dev setup)
# does not cover. The freeze as constraints keeps every locked version; the two additions are pinned
# to the versions that resolve against that lock.
RUN uv pip freeze --python /opt/cdr/.venv/bin/python --exclude-editable > /tmp/locked.txt \
    && uv pip install --python /opt/cdr/.venv/bin/python --constraints /tmp/locked.txt \
        apache-airflow-providers-postgres==7.1.1 psycopg2-binary==2.9.13 \
    && rm /tmp/locked.txt

# Same .pth as `make install`: every process of the venv (airflow, dbt, task subprocesses) gets the
# project's defaults; the ENV below still wins since the defaults only fill what is unset.
RUN echo "import cdr.venv_defaults" \
    > "$(/opt/cdr/.venv/bin/python -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')/cdr_venv_defaults.pth"

ENV PATH=/opt/cdr/.venv/bin:$PATH \
    CDR_DATA_DIR=/opt/cdr/data \
    AIRFLOW_HOME=/opt/cdr/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/cdr/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/cdr/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONUNBUFFERED=1

# uid 50000 as in the official Airflow image, so volumes carried over keep working. The code stays
# root-owned (read-only to the services); only the data and Airflow's home are writable. Named
# volumes mounted on these directories start with this ownership.
RUN groupadd --gid 50000 airflow \
    && useradd --uid 50000 --gid airflow --no-log-init --create-home --home-dir /home/airflow airflow \
    && mkdir -p /opt/cdr/data /opt/cdr/airflow/logs \
    && chown -R airflow:airflow /opt/cdr/data /opt/cdr/airflow

USER airflow

EXPOSE 8080 8088
