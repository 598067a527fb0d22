# Two entry points for a newcomer: `make demo` and `make test`.
# Both create .venv on first use; nothing is installed outside this directory.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo quickstart test lint typecheck unit schemas bench screenshots clean

$(BIN)/reconciler: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/reconciler
	$(BIN)/reconciler demo

quickstart: $(BIN)/reconciler
	bash examples/quickstart.sh

test: $(BIN)/reconciler lint typecheck unit

lint: $(BIN)/reconciler
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/lint-imports

typecheck: $(BIN)/reconciler
	$(BIN)/mypy

unit: $(BIN)/reconciler
	$(BIN)/pytest -q -n 2

schemas: $(BIN)/reconciler
	$(BIN)/python -m reconciler.interfaces.schemas schemas

# The dashboard's pages as PNGs (docs/dashboard.md): a seeded world, the daemon and
# headless Chromium (apt-get install chromium).
screenshots: $(BIN)/reconciler
	$(BIN)/python -m tests.e2e.screenshots docs/images

bench: $(BIN)/reconciler
	$(BIN)/python bench/release_cost.py
	$(BIN)/python bench/release_phases.py
	$(BIN)/python bench/daemon_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
