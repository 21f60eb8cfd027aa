#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration against loopback servers, Airflow and dbt end to end).
# The tests start their own redis-server on free ports, check the PBX signature against PHP itself, and open the
# daily report in Debian's chromium (driven by Playwright, whose own browser downloads are never used).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need.sh php=php-cli redis-server=redis-server chromium=chromium
mkdir -p build/test-artifacts
# --durations: the slowest tests, printed at the end, are where the suite's time goes.
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=900 --durations=25 "$@"
