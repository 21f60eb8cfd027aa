#!/usr/bin/env bash
# `make test`: the whole suite (unit, integration against loopback servers, Airflow and dbt end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/test-artifacts
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=900 "$@"
