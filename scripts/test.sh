#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration against loopback servers, Airflow and dbt end to end).
# The tests start their own redis-server on free ports, check the PBX signature against PHP itself, and open the
# daily report in Debian's chromium (driven by Playwright, whose own browser downloads are never used).
#
# With no arguments: everything in .venv, then the tests marked `ducklake` (the DuckLake warehouse, the whole
# scale-out shape) in .venv-ducklake, made by scripts/ducklake_env.sh (DuckDB 1.5.5, whose extensions PyPI
# carries). With arguments (a part, `-k`, ...): those, in .venv; in .venv there the `ducklake` tests skip, saying
# why: `scripts/test.sh --ducklake tests/e2e/test_scale_out.py` runs a part of them in .venv-ducklake.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need.sh php=php-cli redis-server=redis-server chromium=chromium
mkdir -p build/test-artifacts
# --durations: the slowest tests, printed at the end, are where the suite's time goes.
pytest=(-m pytest -p no:cacheprovider --timeout=900 --durations=25)

if [ "${1:-}" = --ducklake ]; then
    shift
    scripts/ducklake_env.sh
    exec .venv-ducklake/bin/python "${pytest[@]}" -m ducklake "$@"
fi
if [ $# -gt 0 ]; then
    exec .venv/bin/python "${pytest[@]}" "$@"
fi
.venv/bin/python "${pytest[@]}" -m "not ducklake"
scripts/ducklake_env.sh
exec .venv-ducklake/bin/python "${pytest[@]}" -m ducklake
