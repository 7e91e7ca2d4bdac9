# Portcullis: `make run` to try it, `make test` to check it. Both build .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test browser bench lint audit install idp clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

## run: the sandbox AWS, the demo (bob / bobpassword; with Node.js also a local identity
## provider for dave@example.com) and the portal at http://127.0.0.1:8000
run: install idp
	scripts/dev-server

# The tests' OpenID provider (Node.js, tests/idp): installed when npm is here; without it
# the tests that need it skip and say why.
idp:
	@if command -v npm >/dev/null && [ ! -d tests/idp/node_modules/oidc-provider ]; then \
	  (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error) || \
	  echo "tests/idp: npm ci failed; the tests against a real OpenID provider will skip"; \
	fi

## test: the whole suite (SQLite; PostgreSQL when DATABASE_URL is set)
test: install idp
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## browser: the browser suite (Playwright + Debian's Chromium, installed with apt when
## missing; axe-core from npm for the accessibility check) and the real AWS CLI through
## credential_process; screenshots to docs/screenshots
browser: install
	@test -x /usr/bin/chromium || apt-get install -y -q chromium
	@test -d tests/browser/node_modules/axe-core || \
	  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
	$(BIN)/python -m pytest -p no:xdist -m browser tests/browser $(PYTEST_ARGS)
	$(BIN)/python -m pytest -p no:xdist -k credential_process \
	  tests/federation/test_cli_and_api.py tests/access/test_cli_request.py $(PYTEST_ARGS)

## bench: measure on this machine (PostgreSQL on 127.0.0.1) and rewrite docs/PERFORMANCE.md
bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/load.py

## lint: ruff, mypy at the seams, Django's checks, and no model change without its migration
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy
	DEBUG=true $(BIN)/python manage.py check
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	@# Django's deployment checks with production settings (real AWS, a random key).
	DEBUG=false SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(32))') \
	  AUDIT_CHAIN_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(32))') ALLOWED_HOSTS=portal.example.com \
	  AWS_PORTAL_SANDBOX=false $(BIN)/python manage.py check --deploy --fail-level WARNING

## audit: known advisories in the pinned dependencies (needs PyPI's JSON API or OSV)
audit: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-audit.txt
	$(BIN)/pip-audit --strict --no-deps --disable-pip -r requirements.txt

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache tests/idp/node_modules tests/browser/node_modules
