#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration against loopback servers, Airflow and dbt end to end).
# The tests start their own redis-server on free ports, check the PBX signature against PHP itself, and open the
# daily report in Debian's chromium (driven by Playwright, whose own browser downloads are never used).
#
# With no arguments: everything in .venv, two test files at a time (pytest-xdist, --dist loadfile: a file's tests
# share its fixtures on one worker), and beside them the tests marked `ducklake` (the DuckLake warehouse, the whole
# scale-out shape) in .venv-ducklake, made by scripts/ducklake_env.sh (DuckDB 1.5.5, whose extensions PyPI
# carries); their output follows the rest. The end-to-end tests wait on subprocesses and schedulers much of their
# time, so on two cores the three runs share the machine: about 13 minutes of tests here, against 32 one at a time.
# With arguments (a part, `-k`, `-n 2`...): those, in .venv, one at a time unless told; in .venv there the
# `ducklake` tests skip, saying why: `scripts/test.sh --ducklake tests/e2e/test_scale_out.py` runs a part of them
# in .venv-ducklake.
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
scripts/ducklake_env.sh
ducklake_log=build/test-artifacts/ducklake-tests.log
.venv-ducklake/bin/python "${pytest[@]}" -m ducklake >"$ducklake_log" 2>&1 &
ducklake=$!
trap 'kill "$ducklake" 2>/dev/null || true' INT TERM
echo "test: the ducklake tests run beside the rest; their output follows it (and is in $ducklake_log)"
# (tests marked `long` start first: tests/conftest.py)
status=0
.venv/bin/python "${pytest[@]}" -n 2 --dist loadfile -m "not ducklake" || status=$?
ducklake_status=0
wait "$ducklake" || ducklake_status=$?
echo "=== the ducklake tests (.venv-ducklake) ==="
cat "$ducklake_log"
[ "$status" -eq 0 ] && [ "$ducklake_status" -eq 0 ]
