#!/usr/bin/env bash
# .venv-ducklake: the locked stack with DuckDB 1.5.5 and its ducklake, postgres_scanner and httpfs extensions from
# PyPI, for the tests marked `ducklake` (the DuckLake warehouse and the whole scale-out shape, docs/scale-out.md).
#
# Why a second environment: DuckDB fetches those extensions at run time, which a machine without access to its
# extension server cannot do, and PyPI ships them (`duckdb-extension-<name>`) only up to 1.5.5. The product stays
# on DuckDB 2.0.0: on 1.5.5 the warehouse cycle measured 7-12% more CPU and 40% more peak memory
# (bench/warehouse_build.py, docs/scale-out.md), and where extensions install the usual way the DuckLake target
# runs on 2.0. The code under test is the same checkout (an editable install), so these tests prove it on DuckDB's
# DuckLake as shipped for 1.5.5.
set -euo pipefail
cd "$(dirname "$0")/.."

DUCKDB=1.5.5
ENV=.venv-ducklake
UV=$(command -v uv || echo .tools/bin/uv)
[ -x "$UV" ] || command -v "$UV" >/dev/null || { echo "ducklake_env: run make install first (it fetches uv)" >&2; exit 1; }

UV_PROJECT_ENVIRONMENT=$ENV UV_PYTHON_DOWNLOADS=never "$UV" sync --frozen --python "${PYTHON:-python3.11}" \
    --compile-bytecode --quiet
"$UV" pip install --quiet --python "$ENV/bin/python" "duckdb==$DUCKDB" "duckdb-extension-ducklake==$DUCKDB" \
    "duckdb-extension-postgres-scanner==$DUCKDB" "duckdb-extension-httpfs==$DUCKDB"
site=$("$ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "import cdr.venv_defaults" > "$site/cdr_venv_defaults.pth"
"$ENV/bin/python" -c "
import duckdb
from cdr.warehouse import ducklake
ducklake.load_extensions(duckdb.connect(), s3=True)
print(f'ducklake_env: ready: $ENV, duckdb {duckdb.__version__} with ducklake, postgres_scanner, httpfs')"
