# The two set-up commands: `make run` (the app with embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
AUDIT_VENV := .venv-audit
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= 8090
PYTEST_WORKERS ?= 2

.PHONY: run test lint audit install install-dev clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Run the app, a Celery worker (with beat) and the Xero sandbox; Ctrl-C stops them all.
run: install
	PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) PY=$(PY) bash bin/run-local

## Run the whole test suite (SQLite and a file broker by default; DATABASE_URL/REDIS_URL switch).
test: lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## Lint (ruff, settings in ruff.toml).
lint: install-dev
	$(VENV)/bin/ruff check .

## Audit the installed dependencies for known vulnerabilities (pip-audit, in its own venv; see bin/audit-deps).
audit: install-dev $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python bin/audit-deps $(PY)

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements-audit.txt
	touch $@

clean:
	rm -rf $(VENV) $(AUDIT_VENV) var
