# The project's commands; see README.md. Everything runs from .venv/bin.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python

.PHONY: help install lint docs demo test test-fast up clean

help:
	@echo "make install   create .venv with the pinned stack"
	@echo "make demo      install, then run the whole pipeline once on the demo sources"
	@echo "make lint      ruff (Python), import-linter (layers), mypy (types), sqlfluff (dbt SQL), the docs site built --strict"
	@echo "make docs      the documentation site (mkdocs) in build/site"
	@echo "make test      install, lint, then run the test suite"
	@echo "make test-fast the inner loop: unit and integration tests (no Airflow component, no dbt build, none over 10 s)"
	@echo "make up        install, then start Airflow (web UI) with the demo sources"

install:
	@scripts/install.sh

demo: install
	@scripts/need.sh redis-server=redis-server
	@$(PY) include/demo/run_demo.py

lint: install
	@scripts/lint.sh

# The documentation site (mkdocs-material over docs/) in build/site; `make lint` builds it with --strict too.
docs: install
	@NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict && echo "docs: build/site/index.html"

test: install
	@scripts/lint.sh
	@scripts/test.sh

# No lint, no end-to-end, no Airflow component, nothing over 10 s: what a change to the package needs first, in
# under three minutes. A module's tests stay on one worker (--dist loadfile): some share a server fixture and
# read what the tests before them left. `make test` runs everything.
test-fast: install
	@scripts/test.sh -n 2 --dist loadfile -m "not e2e and not ducklake and not scaleout and not airflow and not slow" \
		tests --ignore=tests/e2e

up: install
	@scripts/need.sh redis-server=redis-server
	@$(PY) include/demo/run_up.py

clean:
	rm -rf data .airflow build dbt_project/target dbt_project/logs
