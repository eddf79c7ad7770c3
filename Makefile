# Two commands on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
# Each sets up what it needs first (Debian packages, .venv) through scripts/bootstrap.sh.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: bootstrap demo screenshot test lint unit bench reliability corpus clean

$(VENV)/.installed: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) scripts/bootstrap.sh

bootstrap: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/locxia demo

# The README's picture of the report, made by the product itself from a first demo run on a
# fresh estate (its own demo directory, removed afterwards; world-readable for PostgreSQL).
screenshot: $(VENV)/.installed
	@dir=$$(mktemp -d) && chmod 755 "$$dir" && export LOCXIA_DEMO_DIR="$$dir"; \
	$(BIN)/locxia demo --screenshot docs/report.png; rc=$$?; \
	$(BIN)/locxia demo --stop >/dev/null; rm -rf "$$dir"; exit $$rc

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit

bench: $(VENV)/.installed
	$(BIN)/python -m bench

# Runs tests/reliability (kills, restarts, AWS faults, bad inputs) and writes docs/reliability.md.
reliability: $(VENV)/.installed
	$(BIN)/python -m tests.reliability.report

# Runs tests/corpus (real public layers from PyPI and Debian packages through the feed) and
# writes docs/feed-corpus.md.
corpus: $(VENV)/.installed
	$(BIN)/python -m tests.corpus.report

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
