#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration against loopback servers, Airflow and dbt end to end).
# The tests start their own redis-server on free ports and check the PBX signature against PHP itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/need.sh php=php-cli redis-server=redis-server
mkdir -p build/test-artifacts
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=900 "$@"
