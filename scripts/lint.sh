#!/usr/bin/env bash
# `make lint` (run first by `make test`): ruff for Python (lint and format), import-linter for the package's layers,
# mypy for its types, sqlfluff for the dbt project's SQL, and the documentation site built --strict.
# `scripts/lint.sh fix` applies what the tools can fix; `scripts/lint.sh sql` lints only the SQL.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}

if [ "$mode" != sql ]; then
    if [ "$mode" = fix ]; then
        .venv/bin/ruff check --fix .
        .venv/bin/ruff format .
    else
        .venv/bin/ruff check .
        .venv/bin/ruff format --check .
    fi
    # The package's layers and the absence of import circles (pyproject.toml, [tool.importlinter]).
    .venv/bin/lint-imports --no-cache
    # The package's types (pyproject.toml, [tool.mypy]).
    .venv/bin/mypy
fi

# dbt's templater compiles the project: it needs the plugin package and a database to open, never the real one.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/build"
export CDR_DATA_DIR="$scratch" PYTHONPATH="$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}" DBT_TARGET_PATH="$scratch/target"
if [ "$mode" = fix ]; then
    .venv/bin/sqlfluff fix --processes 2 dbt_project/models dbt_project/macros
else
    .venv/bin/sqlfluff lint --processes 2 dbt_project/models
fi
# The documentation site: a broken link or anchor fails the lint (mkdocs.yml: strict, validation).
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$scratch/site"
echo; echo "lint: clean"
