# Thin wrappers: every target is one or two lines calling a Python tool or a script in deploy/local.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: help venv install hooks prereqs kafka-jars lock lock-upgrade services-up services-down \
        services-status lint lint-deploy fmt schemas test test-unit test-contract \
        test-integration test-browser run bench bench-rebuild bench-latency-stages bench-batch-cost bench-api bench-security chaos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

prereqs: ## check (and on Debian as root, install) java, maven, PostgreSQL, kcat, pgbouncer, chromium
	deploy/local/prereqs.sh

# The virtual environment alone: a Python >= 3.11 (PYTHON=... picks one) and the packages of
# uv.lock. Enough for test-unit, test-contract, lint, fmt and schemas: no Java, Maven or jars.
$(STAMP): pyproject.toml uv.lock deploy/local/venv.sh deploy/local/lib.sh
	deploy/local/venv.sh
	touch $@

venv: $(STAMP) ## only the virtual environment, from uv.lock (what test-unit and lint need)

install: $(STAMP) prereqs kafka-jars ## virtual environment, system tools (apt as root) and Kafka jars (incremental)

hooks: $(STAMP) ## run ruff, mypy and the import contracts before every git commit (pre-commit)
	$(BIN)/pre-commit install

lock: ## update uv.lock after changing the dependencies in pyproject.toml; commit both
	deploy/local/uv.sh lock

lock-upgrade: ## move uv.lock to the newest versions pyproject.toml allows; test, then commit
	deploy/local/uv.sh lock --upgrade

kafka-jars: ## resolve the Apache Kafka jars from Maven Central into .local/kafka/libs (cached)
	deploy/local/kafka-jars.sh

services-up: install ## start native Kafka (KRaft) and PostgreSQL on 127.0.0.1 (idempotent)
	deploy/local/services.sh up

services-down: ## stop the native services this checkout started
	deploy/local/services.sh down

services-status: ## show whether the native services run, and where
	deploy/local/services.sh status

lint: $(STAMP) ## ruff, format check, mypy strict, import contracts, and lint-deploy
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	deploy/lint/lint-deploy.sh

lint-deploy: $(STAMP) ## Dockerfile, compose file, Helm chart: hadolint, helm template, schemas, checkov
	deploy/lint/lint-deploy.sh

fmt: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix services tests bench
	$(BIN)/ruff format services tests bench

schemas: $(STAMP) ## export JSON Schemas, examples, AsyncAPI and OpenAPI into schemas/
	$(BIN)/orderstate export-schemas --out schemas

test-unit: $(STAMP) ## pure tests: no network, seconds
	$(PYTEST) tests/unit

test-contract: $(STAMP) ## the published contract in schemas/ matches the code
	$(PYTEST) tests/contract

test-integration: install ## real Kafka + PostgreSQL (started if needed; never skipped)
	$(PYTEST) tests/integration tests/e2e tests/browser

test-browser: install ## the web console in Debian's chromium (installed by prereqs), against a real orderstate api
	$(PYTEST) tests/browser

test: install ## everything: unit, contract, integration, e2e, browser
	$(PYTEST) tests

run: services-up ## laptop: services, migrate, topics, orderstate, a simulation; Ctrl-C stops orderstate
	deploy/local/run.sh

bench: install services-up ## orderstate vs raw Kafka, raw PostgreSQL and a per-event faust agent, the order monitor, and a rebuild of 1,000,000 records (~20 min); writes bench/results.md and bench/results-rebuild.md
	PYTHONPATH=. $(BIN)/python bench/run.py
	PYTHONPATH=. $(BIN)/python bench/rebuild.py

bench-rebuild: install services-up ## only `orderstate rebuild` of 1,000,000 records (~10 min); writes bench/results-rebuild.md
	PYTHONPATH=. $(BIN)/python bench/rebuild.py

bench-latency-stages: install services-up ## where the latency at 1,000 events/s goes, step by step in the worker, three 30 s rounds (~3 min); writes bench/results-latency-stages.md
	PYTHONPATH=. $(BIN)/python bench/latency_stages.py

bench-batch-cost: install services-up ## the CPU of one batch by its size, 1 to 500 events, statement by statement on both sides (~2 min); writes bench/results-batch-cost.md
	PYTHONPATH=. $(BIN)/python bench/batch_cost.py

bench-api: install services-up ## REST API reads with 1,000,000 orders: GET by id and a filtered list, EXPLAIN of every filter; writes bench/results-api.md
	PYTHONPATH=. $(BIN)/python bench/api.py

bench-security: install services-up ## 100,000 hostile records (decoder and worker), 10,000+ fuzzed REST requests, an auth flood (~25 min); writes bench/security-results.md figures to .local/security-bench.json
	PYTHONPATH=. $(BIN)/python bench/security.py --before 7e02192

chaos: install ## the fault-injection suite at full size on a broker and server of its own (~25 min); writes bench/chaos-results.md
	$(BIN)/python -m tests.chaos --report bench/chaos-results.md

clean: services-down ## stop services (the fault-injection run's too), remove the venv and local data
	ORDERSTATE_LOCAL_DIR=.local/chaos ORDERSTATE_LOCAL_KAFKA_PORT=29092 ORDERSTATE_LOCAL_KAFKA_CONTROLLER_PORT=29093 \
	  ORDERSTATE_LOCAL_PG_PORT=25432 deploy/local/services.sh down || true
	rm -rf $(VENV) .local
