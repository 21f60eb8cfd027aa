#!/usr/bin/env bash
# `make install`: .venv at the project root with the pinned stack from uv.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "install: Python 3.11 is needed ('$PYTHON' not found); on Debian/Ubuntu: apt-get install python3.11 python3.11-venv" >&2
    exit 1
fi

UV=$(command -v uv || true)
if [ -z "$UV" ]; then
    if [ ! -x .tools/bin/uv ]; then
        echo "install: uv not found; installing it into .tools/ from PyPI"
        "$PYTHON" -m venv .tools
        .tools/bin/pip install --quiet uv==0.13.9
    fi
    UV=.tools/bin/uv
fi

# --frozen: exactly the versions in uv.lock; never download a Python build (use the machine's).
# --compile-bytecode: every Airflow task, dbt command and simulator is a new Python process, and where
# PYTHONDONTWRITEBYTECODE is set (CI images, many containers) each would compile Airflow and dbt from source
# again: about 3 s of CPU a process. Compiled once here (about a minute; later syncs only check), they load.
UV_PYTHON_DOWNLOADS=never "$UV" sync --frozen --python "$PYTHON" --compile-bytecode

# Every process of the venv gets the project's Airflow defaults (see plugins/cdr/venv_defaults.py).
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import cdr.venv_defaults" > "$site/cdr_venv_defaults.pth"
# Versions from the installed packages' metadata: `dbt --version` would ask PyPI for the latest release.
versions=$(.venv/bin/python -c "from importlib.metadata import version as v
print(', '.join(f'{name} {v(dist)}' for name, dist in
                (('airflow', 'apache-airflow'), ('dbt-core', 'dbt-core'), ('dbt-duckdb', 'dbt-duckdb'))))")
for tool in airflow dbt cdr-receiver; do
    [ -x ".venv/bin/$tool" ] || { echo "install: .venv/bin/$tool is missing after uv sync" >&2; exit 1; }
done
echo "install: ready: $versions"
