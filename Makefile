# crashloop-bot: `make demo` runs the bot's loop on the simulated cluster; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo deps test lint bench install clean audit

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

# Two workers (pytest-xdist): the suite mostly waits on real servers; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: deps
	$(BIN)/pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Supply chain: the venv runs exactly the image's locked dependencies (requirements.lock, every file checked against
# its hash), they agree with each other, and none has a published advisory. pip-audit asks PyPI's JSON API; where
# that does not answer (this workplace's CI reaches the package index only) the advisory check says it was skipped
# instead of passing on packages it could not look up (--strict fails on those).
AUDIT_PROBE := import json, re, urllib.request; name, version = re.search(r'(?m)^([\w.-]+)==(\S+)', open('requirements.lock').read()).groups(); json.load(urllib.request.urlopen(f'https://pypi.org/pypi/{name}/{version}/json', timeout=10))['vulnerabilities']
audit: $(STAMP)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip check
	@if $(BIN)/python -c "$(AUDIT_PROBE)" 2>/dev/null; then \
		$(BIN)/pip-audit --strict --require-hashes --disable-pip --progress-spinner off -r requirements.lock; \
	else \
		echo "make audit: PyPI's advisory API does not answer from here: pip-audit SKIPPED (run make audit where it does)"; \
	fi

bench: $(STAMP)
	$(BIN)/python -m bench.triage_latency
	$(BIN)/python -m bench.webhook_ack
	$(BIN)/python -m bench.cli_speed
	$(BIN)/python -m bench.storm
	$(BIN)/python -m bench.recovery
	$(BIN)/python -m bench.event_text
	$(BIN)/python -m bench.settle

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache
