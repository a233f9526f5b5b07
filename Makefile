# The two set-up commands: `make run` (the app with embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PROD_VENV := .venv-prod
AUDIT_VENV := .venv-audit
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= 8090
PYTEST_WORKERS ?= 2

.PHONY: run test lint audit install install-dev install-prod chromium docs-screenshots bench clean

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

## What production installs, alone (requirements.txt, no dev tools): tests/e2e/test_production.py runs
## gunicorn, the Celery worker and beat from it.
install-prod: $(PROD_VENV)/.installed

$(PROD_VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(PROD_VENV)
	$(PROD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PROD_VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

## Run the app, a Celery worker (with beat) and the Xero sandbox (Procfile); Ctrl-C or SIGTERM stops them all.
## `exec`: no shell stays between make and bin/run-procfile, which stops everything if make is killed.
run: install
	exec env PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) PY=$(PY) bash bin/run-local

## Run the whole test suite (SQLite and a file broker by default; DATABASE_URL/REDIS_URL switch).
## The browser tests share one worker (--dist loadgroup, xdist_group "browser").
test: lint chromium install-prod
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## Chromium for the browser tests: Debian's package (Playwright can't download its own browsers here).
chromium:
	@if [ -z "$$CHROMIUM" ] && [ ! -x /usr/bin/chromium ]; then \
	  echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

## Take the README's screenshots again: the browser tests' tour, copied from var/e2e-screenshots/ to docs/.
DOCS_SHOTS := tour-01-login tour-02-settings tour-03-consent tour-04-connected tour-05-sync-card tour-09-admin-record \
	tour-10-open-in-xero tour-step6-sandbox-01-void tour-step6-01-changed-in-xero tour-step6-admin-02-changed-in-xero
docs-screenshots: install-dev chromium
	$(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_browser_flow.py -k tour
	mkdir -p docs && for shot in $(DOCS_SHOTS); do cp var/e2e-screenshots/$$shot.png docs/; done

## The benchmark (bench/, README "Benchmark"): needs PostgreSQL and Redis on 127.0.0.1; takes about an hour.
## Not part of `make test`. BENCH_ARGS passes options, e.g. BENCH_ARGS="--scenario burst".
bench: install-dev $(VENV)/.installed-bench
	$(PY) -m bench $(BENCH_ARGS)

$(VENV)/.installed-bench: bench/requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

## Lint: ruff (settings in ruff.toml) and the layers of the code (import-linter, contracts in .importlinter).
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

## Audit the installed dependencies for known vulnerabilities (pip-audit, in its own venv; see bin/audit-deps).
audit: install-dev $(AUDIT_VENV)/.installed
	$(AUDIT_VENV)/bin/python bin/audit-deps $(PY)

$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements-audit.txt
	touch $@

clean:
	rm -rf $(VENV) $(PROD_VENV) $(AUDIT_VENV) var
