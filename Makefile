# alive-signage: the two commands a newcomer needs are `make run` and `make test`.
# Needs GNU make and python3 >= 3.11; everything else is installed into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Touched after a successful install: the venv is reinstalled only when the lock changes.
STAMP := $(VENV)/.installed-stamp
# Exact versions with hashes, resolved from pyproject.toml by `make lock`: LOCK for the venv
# (runtime + dev + embedded + otel), RUNTIME_LOCK for the Docker image (same pins, runtime only).
LOCK := requirements/lock.txt
RUNTIME_LOCK := requirements/runtime.txt
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --quiet $(LOCK_ARGS)
PYTEST_ARGS ?=
# Parallel test processes (pytest-xdist); 0 runs the suite in this process. More processes
# than cores pays: most tests wait on PostgreSQL, Redis or a subprocess, not on the CPU.
TEST_WORKERS ?= 4
BENCH_ARGS ?=
FAULTS_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv lock run test lint fmt schema schema-check bench faults clean-venv

help:
	@echo "make run           start the whole stack (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test          run the test suite in TEST_WORKERS=4 processes (PYTEST_ARGS='-k name -x' to narrow it)"
	@echo "make lint          ruff check, ruff format --check, mypy --strict on every package, lint-imports"
	@echo "make lock          re-resolve requirements/*.txt after editing pyproject.toml (LOCK_ARGS=--upgrade)"
	@echo "make fmt           format and auto-fix with ruff"
	@echo "make schema        regenerate schema.graphql from the code"
	@echo "make schema-check  fail if schema.graphql differs from the code"
	@echo "make bench         run the benchmarks (BENCH_ARGS are passed on)"
	@echo "make faults        the fault-injection suite, ~12 min (FAULTS_ARGS='--short' for a quick one)"

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "alive-signage needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	@touch $@

# Keeps every existing pin that still fits pyproject.toml. LOCK_ARGS=--upgrade moves all pins
# to the newest allowed releases, LOCK_ARGS='--upgrade-package starlette' only one.
lock: venv
	$(UV_COMPILE) --extra dev --extra embedded --extra otel -o $(LOCK)
	$(UV_COMPILE) --constraint $(LOCK) -o $(RUNTIME_LOCK)

run: venv
	$(BIN)/signage up

test: venv
	$(BIN)/pytest -n $(TEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# schema.graphql is exported from the code; CI fails when the committed file drifts.
EXPORT_SCHEMA := $(BIN)/strawberry export-schema graphql_api.schema:schema

schema: venv
	$(EXPORT_SCHEMA) > schema.graphql.tmp
	mv schema.graphql.tmp schema.graphql

schema-check: venv
	@tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; \
	$(EXPORT_SCHEMA) > "$$tmp" || exit 1; \
	if diff -u schema.graphql "$$tmp"; then echo "schema.graphql is up to date"; \
	else echo "schema.graphql is out of date: run 'make schema' and commit it"; exit 1; fi

bench: venv
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

# Kills, freezes and wipes private PostgreSQL/Redis servers and the app processes under a
# simulated fleet; writes the table into docs/reliability.md (see that file).
faults: venv
	$(BIN)/python -m faults $(FAULTS_ARGS)

clean-venv:
	rm -rf $(VENV)
