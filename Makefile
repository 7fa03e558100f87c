# Two commands from a fresh clone: `make run` serves, `make test` tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-fast lint bench bench-all clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The /player scripts (hls.js, dash.js) from npm at the versions package-lock.json pins (not committed;
# npm writes the stamp below). Without npm, make goes on with a note and tells the install so: setup.py
# otherwise stops a build that lacks them.
PLAYER_JS := gateway/player/node_modules/.package-lock.json
export TAMS_SKIP_PLAYER_JS ?= $(if $(shell command -v npm 2>/dev/null),0,1)

$(PLAYER_JS): gateway/player/package.json gateway/player/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix gateway/player --no-audit --no-fund --ignore-scripts --silent; \
	else echo "npm not found: /player will have no hls.js or dash.js (install Node.js for them)"; fi

## Start the gateway on the embedded defaults (SQLite + local disk under ./data) at http://127.0.0.1:8000/
run: $(PLAYER_JS) $(STAMP)
	$(BIN)/tams-gateway serve

## Install the test extras and tools, run `make lint`'s checks, then the whole suite on SQLite and on the VAST DB fake
test: $(PLAYER_JS) $(TEST_STAMP)
	bash scripts/test-tools.sh
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q
	@echo "== the API suite again on the VAST DB store (in-memory fake; docs/VAST.md) =="
	TAMS_TEST_CATALOG=vast-fake $(BIN)/python -m pytest -q -p no:cacheprovider \
		--ignore=tests/test_player.py --ignore=tests/test_catalog_contract.py --ignore=tests/test_vast_store.py

## The edit-run loop: the suite on SQLite without the slow tests (real processes, players, heavy properties)
test-fast: $(PLAYER_JS) $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

## The goal benchmarks: one table of figures vs same-run references, under 15 min (BENCH_FLAGS=--quick: shorter)
bench: $(TEST_STAMP)
	$(BIN)/python -m bench $(BENCH_FLAGS)

## Every benchmark: the goal table, then the older ones that print figures without goals (see docs/PERFORMANCE.md)
bench-all: bench
	$(BIN)/python -m pytest bench -q --benchmark-enable -p no:cacheprovider
	$(BIN)/python -m bench.bytes
	$(BIN)/python -m bench.events
	$(BIN)/python -m bench.vast
	$(BIN)/python -m bench.transmux

## Lint, formatting, types (strict on catalog/), the layering contract (pyproject.toml's [tool.*]) and the Dockerfile
lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@if [ -x $(BIN)/hadolint ]; then $(BIN)/hadolint Dockerfile; \
	else echo "no hadolint (make test installs it): Dockerfile not linted"; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .hypothesis
