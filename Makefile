# Switchboard developer entry points. Everything a fresh machine needs is
# installed from here: a virtualenv in .venv with the project and its test
# extras; Kafka's jars are fetched by `switchboard kafka start` itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
B ?=

.PHONY: help install test demo lint typecheck bench kafka-start kafka-stop clean

help:
	@echo "make demo    run the demo (starts a local Kafka broker)"
	@echo "make test    run the whole test suite against a real broker"
	@echo "make lint    ruff + mypy"
	@echo "make bench   run the benchmarks (B=<name> for one)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/switchboard demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(B)

kafka-start: $(STAMP)
	$(BIN)/switchboard kafka start

kafka-stop: $(STAMP)
	$(BIN)/switchboard kafka stop

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
