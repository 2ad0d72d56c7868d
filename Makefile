# hostcap entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DB_DIR := out

.PHONY: install run test lint format bench docs postgres-server system-packages fhirjs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[research,dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded SQLite default.
run: install
	mkdir -p $(DB_DIR)
	# A fresh demo store each run: the database with its WAL files, audit key and head file.
	rm -f $(DB_DIR)/demo.sqlite $(DB_DIR)/demo.sqlite-wal $(DB_DIR)/demo.sqlite-shm $(DB_DIR)/demo.sqlite.audit-key*
	HOSTCAP_DATABASE_URL=sqlite:///$(DB_DIR)/demo.sqlite $(VENV)/bin/hostcap demo --out $(DB_DIR)/demo
	printf 'demo password 1\n' | $(VENV)/bin/hostcap user add demo --role admin --password-stdin --database sqlite:///$(DB_DIR)/demo.sqlite
	@echo "web app on the demo store: $(VENV)/bin/hostcap serve --database sqlite:///$(DB_DIR)/demo.sqlite"
	@echo "then open http://127.0.0.1:8000/ and sign in as demo / demo password 1 (demo data only)"

# The PostgreSQL server binaries the store tests start (Debian's postgresql), installed when missing.
postgres-server:
	bash scripts/ensure-postgres.sh

# Chromium (browser tests) and poppler-utils (PDF checks), installed when missing.
system-packages:
	bash scripts/ensure-system-packages.sh

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

# FHIR.js (npm package fhir, pinned in its package-lock.json), which the interop tests run
# under Node to validate exported bundles; installed when missing.
FHIRJS := tests/interop/fhirjs
fhirjs:
	test -d $(FHIRJS)/node_modules/fhir || (cd $(FHIRJS) && npm ci --no-audit --no-fund)

test: install postgres-server system-packages fhirjs lint
	$(PY) -m pytest

bench: install postgres-server
	$(PY) -m benchmarks.run_all

docs: install
	$(PY) scripts/generate_docs.py
	$(PY) scripts/generate_examples.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
