# Bright Smile voice receptionist. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
SERVICE_PROJECTS := $(wildcard services/*/pyproject.toml)

.PHONY: help setup test lint fmt bench-scheduling bench-token clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): $(SERVICE_PROJECTS) requirements-dev.txt scripts/setup.sh
	@scripts/setup.sh
	@touch $@

setup: $(STAMP) ## create .venv with every service and the dev tools; install redis-server
	@command -v redis-server >/dev/null || scripts/setup.sh

test: setup ## run every test suite against real servers on loopback
	@scripts/run-tests.sh

lint: setup ## ruff and mypy (strict) over all service code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy services/scheduling-api/src services/token-service/src services/agent-worker/src

fmt: setup ## format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-scheduling: setup ## benchmark the scheduling API against a bare FastAPI endpoint
	$(BIN)/python services/scheduling-api/bench/bench_scheduling.py

bench-token: setup ## benchmark token minting over HTTP against a bare minting loop
	$(BIN)/python services/token-service/bench/bench_token.py

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache
