# Thin wrappers: every target is one or two lines calling a Python tool or a script in deploy/local.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: help install prereqs kafka-jars services-up services-down services-status lint lint-deploy fmt \
        schemas test test-unit test-contract test-integration run bench bench-api bench-security \
        clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

prereqs: ## check (and on Debian as root, install) java, maven, PostgreSQL, kcat, pgbouncer
	deploy/local/prereqs.sh

$(STAMP): pyproject.toml
	$(MAKE) prereqs
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group test --group lint
	touch $@

install: $(STAMP) kafka-jars ## virtual environment, packages and Kafka jars (incremental)

kafka-jars: ## resolve the Apache Kafka jars from Maven Central into .local/kafka/libs (cached)
	deploy/local/kafka-jars.sh

services-up: install ## start native Kafka (KRaft) and PostgreSQL on 127.0.0.1 (idempotent)
	deploy/local/services.sh up

services-down: ## stop the native services this checkout started
	deploy/local/services.sh down

services-status: ## show whether the native services run, and where
	deploy/local/services.sh status

lint: install ## ruff, format check, mypy strict, import contracts, and lint-deploy
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	deploy/lint/lint-deploy.sh

lint-deploy: install ## Dockerfile, compose file, Helm chart: hadolint, helm template, schemas, checkov
	deploy/lint/lint-deploy.sh

fmt: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix services tests bench
	$(BIN)/ruff format services tests bench

schemas: install ## export JSON Schemas, examples, AsyncAPI and OpenAPI into schemas/
	$(BIN)/orderstate export-schemas --out schemas

test-unit: install ## pure tests: no network, seconds
	$(PYTEST) tests/unit

test-contract: install ## the published contract in schemas/ matches the code
	$(PYTEST) tests/contract

test-integration: install ## real Kafka + PostgreSQL (started if needed; never skipped)
	$(PYTEST) tests/integration tests/e2e

test: install ## everything: unit, contract, integration, e2e
	$(PYTEST) tests

run: services-up ## laptop: services, migrate, topics, orderstate, a simulation; Ctrl-C stops orderstate
	deploy/local/run.sh

bench: install services-up ## orderstate vs raw Kafka, raw PostgreSQL and a per-event faust agent (~8 min); writes bench/results.md
	$(BIN)/python bench/run.py

bench-api: install services-up ## REST API reads with 1,000,000 orders: GET by id and a filtered list, EXPLAIN of every filter; writes bench/results-api.md
	$(BIN)/python bench/api.py

bench-security: install services-up ## 100,000 hostile records (decoder and worker), 10,000+ fuzzed REST requests, an auth flood (~25 min); writes bench/security-results.md figures to .local/security-bench.json
	$(BIN)/python bench/security.py --before 7e02192

clean: services-down ## stop services, remove the venv and local data
	rm -rf $(VENV) .local
