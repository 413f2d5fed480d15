# pda-lease developer tasks (GNU make). Every tool runs from .venv by path, never from the system.

PYTHON ?= python3

VENV          := .venv
BIN           := $(VENV)/bin
STAMP         := $(VENV)/.installed
INTEROP_VENV  := .venv-interop
INTEROP_STAMP := $(INTEROP_VENV)/.installed
PIP_FLAGS     := -q --disable-pip-version-check

# CI runs the thorough Hypothesis profile; locally tests/conftest.py defaults to "quick".
# An explicit HYPOTHESIS_PROFILE in the environment still wins.
ifneq ($(CI),)
HYPOTHESIS_PROFILE ?= thorough
export HYPOTHESIS_PROFILE
endif

.PHONY: venv lint typecheck contracts pytest test demo bench interop clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: venv
	$(BIN)/mypy

contracts: venv
	$(BIN)/lint-imports --no-logo

pytest: venv
	$(BIN)/python -m pytest

# Sub-makes keep the order (and stop at the first failure) even under make -j.
test: venv
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory typecheck
	@$(MAKE) --no-print-directory contracts
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory interop

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Speed figures (about a minute; never part of `make test`). Record a run with
# `$(BIN)/python benchmarks/bench_manager.py --markdown BENCHMARKS.md`.
bench: venv
	$(BIN)/python benchmarks/bench_manager.py
	$(BIN)/python benchmarks/bench_replay.py

# Separate venv: the interop checker must not see (or pollute) the project environment.
$(INTEROP_STAMP): interop/requirements.txt
	test -x $(INTEROP_VENV)/bin/python || $(PYTHON) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python -m pip install $(PIP_FLAGS) -r interop/requirements.txt
	touch $@

interop: $(INTEROP_STAMP)
	$(INTEROP_VENV)/bin/python interop/check_python_cwt.py specs/vectors

clean:
	rm -rf $(VENV) $(INTEROP_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis \
		.import_linter_cache build dist *.egg-info src/*.egg-info
