# FlowPilot developer entry points. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
DEV_ENV := source scripts/dev_env.sh
# Extra pytest arguments, e.g. `make test ARGS="-k jobs -x"`.
ARGS ?=

.PHONY: help run test test-chaos bench lint stop status clean

help: ## show this help
	@echo "FlowPilot make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'
	@echo
	@echo "Env: FLOWPILOT_FORCE_PRIVATE=1 uses private Postgres/Redis under .run/ even if local ones answer;"
	@echo "     DATABASE_URL / REDIS_URL are used for 'make run' when reachable; ARGS=... goes to pytest."

run: ## migrate, create the demo tenant, run web+worker+batch+clock (Ctrl-C to stop)
	@bash scripts/run.sh

test: ## run the test suite (throwaway databases; local services, else private ones)
	@$(DEV_ENV) test && exec $(VENV)/bin/pytest -q --ignore=tests/chaos $(ARGS)

test-chaos: ## run the chaos tests in tests/chaos (if present)
	@if [ ! -d tests/chaos ]; then echo "tests/chaos does not exist yet; nothing to run"; exit 0; fi; \
	$(DEV_ENV) test && exec $(VENV)/bin/pytest -q tests/chaos $(ARGS)

bench: ## run the benchmarks (tests/bench/run_all.py, if present)
	@if [ ! -f tests/bench/run_all.py ]; then echo "tests/bench/run_all.py does not exist yet; nothing to run"; exit 0; fi; \
	$(DEV_ENV) test && exec $(VENV)/bin/python -m tests.bench.run_all $(ARGS)

lint: ## ruff + mypy
	@$(DEV_ENV) install && $(VENV)/bin/ruff check . && $(VENV)/bin/mypy web workers shared db

stop: ## stop the private Postgres/Redis under .run/ (local servers are never touched)
	@bash scripts/dev_env.sh stop

status: ## show whether the private Postgres/Redis are running
	@bash scripts/dev_env.sh status

clean: ## stop private services, delete .run/ (private DB, demo token, secret key) and caches
	@bash scripts/dev_env.sh clean
	rm -rf .pytest_cache .mypy_cache .ruff_cache
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
