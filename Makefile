# crashloop-bot: `make demo` runs the bot's loop on the simulated cluster; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo deps test lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# What the tests need from the machine (Debian packages, PostgreSQL, helm), installed or started when missing;
# not root: stops with the exact command to run. .ci/run calls the same script.
deps: $(STAMP)
	PYTHON=$(BIN)/python scripts/setup-test-deps.sh

demo: $(STAMP)
	PYTHON=$(BIN)/python scripts/setup-test-deps.sh --demo
	$(BIN)/crashloop demo

test: deps
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.triage_latency
	$(BIN)/python -m bench.webhook_ack
	$(BIN)/python -m bench.cli_speed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache
