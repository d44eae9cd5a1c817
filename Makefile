# Switchboard developer entry points. Everything a fresh machine needs is
# installed from here: a virtualenv in .venv with the project and its test
# extras, every package pinned and hash-checked by requirements/dev.txt;
# Kafka's jars are fetched by `switchboard kafka start` itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.txt
RUNTIME_LOCK := requirements/runtime.txt
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# pip-compile runs from a venv of its own: the tool never lands in .venv
LOCK_VENV := .venv-lock
PIP_TOOLS ?= pip-tools==7.7.0
LOCK_ARGS ?=
COMPILE := CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --resolver=backtracking
PYTEST_ARGS ?=
B ?=

.PHONY: help install lock specs test demo lint typecheck bench kafka-start kafka-stop clean

help:
	@echo "make demo    run the demo (starts a local Kafka broker)"
	@echo "make test    run the whole test suite against a real broker"
	@echo "make lint    ruff + mypy + the import contracts"
	@echo "make bench   run the benchmarks (B=<name> for one)"
	@echo "make specs   re-derive connectors/*/_spec from the pinned API descriptions"
	@echo "             (needs go and npm, or SPECS_ARGS='--from-dir DIR' with the files)"
	@echo "make lock    re-pin requirements/*.txt after a change to pyproject.toml's dependencies"
	@echo "             (LOCK_ARGS=--upgrade for the newest versions allowed)"

# The lock installs every package, hash-checked; the project itself then goes
# in editable, without dependencies and with the locked setuptools (-qq: no
# setuptools notice about editable installs; errors still print).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r $(LOCK)
	$(PIP) -q install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-resolve both locks from pyproject.toml (+ requirements/build.in), keeping
# the pins that still fit; LOCK_ARGS=--upgrade moves every package to the newest
# version its range allows, LOCK_ARGS='--upgrade-package aiohttp' one package.
# The runtime lock is held to the dev lock's pins.
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(PIP_TOOLS)'; }
	$(COMPILE) $(LOCK_ARGS) --extra test --extra http2 -o $(LOCK) pyproject.toml requirements/build.in
	$(COMPILE) $(LOCK_ARGS) -c $(LOCK) -o $(RUNTIME_LOCK) pyproject.toml requirements/build.in

install: $(STAMP)

# The connectors' structure-only API descriptions and command catalogs, from
# the pinned registry packages (sha256-checked; see tools/specs/sources.py).
SPECS_ARGS ?=
specs: $(STAMP)
	$(BIN)/python -m tools.specs $(SPECS_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/switchboard demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench $(B)

kafka-start: $(STAMP)
	$(BIN)/switchboard kafka start

kafka-stop: $(STAMP)
	$(BIN)/switchboard kafka stop

clean:
	rm -rf $(VENV) $(LOCK_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
