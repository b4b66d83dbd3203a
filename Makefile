# Sundown: `make run` starts everything on the embedded default; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Dashboard front-end packages (USWDS, htmx) from npm; reinstalled when the lock file changes.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | sha1sum | cut -c1-12)

.PHONY: run test lint typecheck format services clean bench screenshots

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

run: $(STAMP) $(NODE_STAMP)
	DEBUG=1 bin/run-dev

services:
	bin/ensure-services

test: $(STAMP) $(NODE_STAMP) services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

# Refresh the README's screenshots in docs/screenshots (a plain test run writes var/screenshots).
screenshots: $(STAMP) $(NODE_STAMP) services
	SUNDOWN_SCREENSHOTS=docs/screenshots $(VENV)/bin/pytest tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var/ static/
