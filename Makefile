# Firebreak. `make run` and `make test` work on a fresh machine; see README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2

.PHONY: run test test-fast hostile bench load faults prod-check venv install install-test system-packages lock clean vendor engine

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Install when pyproject.toml or the lock file changed since the last install.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(PIP) install -q -c requirements.lock -e .
	touch $@

# The app and its test tools in one pip run (one resolution, one editable build).
$(VENV)/.installed-test: pyproject.toml requirements.lock | $(BIN)/python
	$(PIP) install -q -c requirements.lock -e ".[test]"
	touch $(VENV)/.installed $@

# The real OpenID provider tests/test_oidc.py signs in against (oidc-provider, pinned in
# its lock file): installed again only when the lock changed.
OIDC_PROVIDER := tests/oidc/node_modules/.installed
$(OIDC_PROVIDER): tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(OIDC_PROVIDER)

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo --if-empty --scale year
	@echo
	@if [ -f instance/demo-login.txt ]; then read email password < instance/demo-login.txt; \
	  echo "Firebreak on http://$(HOST):$(PORT)  — demo sign-in: $$email / $$password"; \
	else echo "Firebreak on http://$(HOST):$(PORT)"; fi
	@echo
	ENGINE_IN_PROCESS=1 PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) \
	  --worker-class gthread --threads 8 --access-logfile - wsgi:app

engine: install
	$(FLASK) engine run

system-packages:
	@scripts/system-packages.sh

# The whole suite: SQLite for everything, PostgreSQL again for the database-facing
# tests, on a throwaway cluster that is stopped however the tests end.
test: install-test system-packages
	$(BIN)/python scripts/pgcluster.py run -- scripts/pytest-rounds.sh $(PYTEST_ARGS)

# Only SQLite, no PostgreSQL and no browser: the quick loop while writing code.
test-fast: install-test
	MARKS="not browser" scripts/pytest-rounds.sh $(PYTEST_ARGS)

# Hostile input at full strength: many generated examples per door, form and field
# (`make test` runs a few of each), on SQLite and, for the tests marked db, on a
# throwaway PostgreSQL as `make test` does; then the figures (build/hostile.*: not
# test-results/, which pytest-playwright empties as the session starts).
HOSTILE_RESULTS := build/hostile
hostile: install-test system-packages
	@mkdir -p build && rm -f $(HOSTILE_RESULTS).jsonl $(HOSTILE_RESULTS).xml
	@echo "{\"started\": $$(date +%s)}" > $(HOSTILE_RESULTS).jsonl
	FIREBREAK_HOSTILE=full FIREBREAK_HOSTILE_REPORT=$(CURDIR)/$(HOSTILE_RESULTS).jsonl \
	  $(BIN)/python scripts/pgcluster.py run -- $(BIN)/python -m pytest -n $${PYTEST_WORKERS:-auto} \
	  --junitxml=$(HOSTILE_RESULTS).xml tests/test_hostile_*.py tests/test_inbound.py $(PYTEST_ARGS); \
	status=$$?; $(BIN)/python scripts/hostile_report.py $(HOSTILE_RESULTS).jsonl $(HOSTILE_RESULTS).xml; exit $$status

# The benchmarks in bench/ (wrk from the OS packages where missing); BENCH_ROUNDS,
# BENCH_EVENTS and BENCH_GUNICORN change what is measured, see bench/ingest.py.
bench: install
	@scripts/system-packages.sh bench
	$(BIN)/python -m bench $(BENCH)

# The load run (slow: about 13 minutes): 200 events/s for 5 minutes on 8 gunicorn
# workers with 50 browsers and 500 status page requests/s, on SQLite then PostgreSQL.
# LOAD=sqlite or LOAD=postgresql runs one; LOAD_SECONDS etc. change it (load/run.py).
load: install-test system-packages
	@scripts/system-packages.sh bench
	$(BIN)/python -m load $(LOAD)

# The fault scenarios (slow: about 17 minutes), each on a whole deployment: engine and
# web workers killed, providers down, the disk full, a restore under load, PostgreSQL
# away (load/test_faults.py; FAULT_* settings there), and prod-check's.
faults: install-test system-packages
	@scripts/system-packages.sh bench
	@scripts/system-packages.sh prod
	$(BIN)/python -m pytest -p no:xdist -p no:cacheprovider -q -rA load/test_faults.py load/test_prod.py $(PYTEST_ARGS)

# The production layout run for real (about 2 minutes): Caddy with its internal CA in
# front of two gunicorn processes, two engines, one PostgreSQL; an alert over HTTPS
# pages; the leading engine and a web process are killed while events flow
# (load/test_prod.py).
prod-check: install-test system-packages
	@scripts/system-packages.sh prod
	$(BIN)/python -m pytest -p no:xdist -p no:cacheprovider -q -rA load/test_prod.py $(PYTEST_ARGS)

# Refresh requirements.lock from a clean environment (after changing pyproject.toml).
lock:
	rm -rf /tmp/firebreak-lock && $(PYTHON) -m venv /tmp/firebreak-lock
	/tmp/firebreak-lock/bin/pip install -q -e ".[test]"
	/tmp/firebreak-lock/bin/pip freeze --exclude-editable | grep -v '^firebreak' > requirements.lock

vendor:
	scripts/vendor.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
