# pda-lease developer tasks (GNU make). Every tool runs from .venv by path, never from the system.

PYTHON ?= python3

VENV          := .venv
BIN           := $(VENV)/bin
STAMP         := $(VENV)/.installed
INTEROP_VENV  := .venv-interop
INTEROP_STAMP := $(INTEROP_VENV)/.installed
BENCH_VENV    := .venv-bench
BENCH_STAMP   := $(BENCH_VENV)/.installed
PIP_FLAGS     := -q --disable-pip-version-check

# CI runs the thorough Hypothesis profile; locally tests/conftest.py defaults to "quick".
# An explicit HYPOTHESIS_PROFILE in the environment still wins.
ifneq ($(CI),)
HYPOTHESIS_PROFILE ?= thorough
export HYPOTHESIS_PROFILE
endif

.PHONY: venv lint typecheck contracts pytest test demo bench interop clean fuzz fuzz-short mutation

venv: $(STAMP)

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

lint: venv
	$(BIN)/ruff check src tests benchmarks fuzz scripts
	$(BIN)/ruff format --check src tests benchmarks fuzz scripts

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
	@$(MAKE) --no-print-directory fuzz-short
	@$(MAKE) --no-print-directory interop

# Coverage-guided fuzzing with atheris: each fuzz/ target runs FUZZ_SECONDS on a copy of
# fuzz/corpus/<target> in a temporary directory (-rss_limit_mb=512 -timeout=5); any input that
# gets anything but a typed result or the documented error fails the run and is printed.
FUZZ_SECONDS ?= 60

fuzz: venv
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)

# The short run that `make test` includes (7 targets x 3 s, about 40 s).
fuzz-short: venv
	$(BIN)/python fuzz/run.py --seconds 3

# Mutation testing of the pure kernel with mutmut (docs/MUTATION.md): slow (tens of minutes on
# two cores), never part of `make test`; fails below a 95 % score.
mutation: venv
	$(BIN)/python scripts/mutation.py --min-score 95

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Speed figures against the physical floor and the peers (never part of `make test`). Each
# suite writes benchmarks/results/<suite>.json; report.py turns them into the generated part
# of BENCHMARKS.md and benchmarks/ratios.png. The peers (python-cwt and pycose need cbor2<6)
# and matplotlib live in their own venv, with pda-lease installed there without its deps.
# The million-lease and million-decision states are built once and cached (see
# benchmarks/README.md); the first run takes much longer than the next ones.
bench: venv $(BENCH_STAMP)
	$(BIN)/python benchmarks/bench_kernel.py
	$(BENCH_VENV)/bin/python benchmarks/bench_peers.py
	$(BIN)/python benchmarks/bench_manager.py
	$(BIN)/python benchmarks/bench_revocations.py
	$(BIN)/python benchmarks/bench_replay.py
	$(BENCH_VENV)/bin/python benchmarks/report.py

$(BENCH_STAMP): benchmarks/requirements-peers.txt pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install $(PIP_FLAGS) -r benchmarks/requirements-peers.txt
	$(BENCH_VENV)/bin/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

# Separate venv: the interop checker must not see (or pollute) the project environment.
$(INTEROP_STAMP): interop/requirements.txt
	test -x $(INTEROP_VENV)/bin/python || $(PYTHON) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/python -m pip install $(PIP_FLAGS) -r interop/requirements.txt
	touch $@

interop: $(INTEROP_STAMP)
	$(INTEROP_VENV)/bin/python interop/check_python_cwt.py specs/vectors

clean:
	rm -rf $(VENV) $(INTEROP_VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis \
		.import_linter_cache build dist *.egg-info src/*.egg-info
