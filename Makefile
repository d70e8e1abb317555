# Relay CRM. Two commands do everything: `make run` and `make test`; `make serve` for production.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
SANDBOX_PORT ?= 8001
SANDBOX := http://$(HOST):$(SANDBOX_PORT)

# uv needs a Python >= 3.12. Use one from PATH, else the newest from pyenv's versions.
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	  && { command -v $$p; exit; }; done; \
	  ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V | tail -n 1)
# uv from PATH, else installed with pip into a small tools venv (works on any Python, even one
# whose system packages are externally managed).
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup browser run serve superuser test bench lint format migrate seed clean

help:
	@echo "make run    install, migrate, seed demo data and serve the admin on http://$(HOST):$(PORT)/admin/"
	@echo "make test   install and run the whole test suite and the linters"
	@echo "make setup  install only (creates .venv)"
	@echo "make serve  the production stack from the environment (SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, PORT): docs/deploy.md"
	@echo "make superuser  a staff user for make serve's database (same environment)"
	@echo "make bench  run the benchmarks on PostgreSQL and print figure vs target"

define ensure_uv
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is required"; exit 1; }
	@if [ ! -x "$(UV)" ] && ! command -v "$(UV)" >/dev/null 2>&1; then \
	  echo "Installing uv with pip into .tools/"; \
	  $(PYTHON) -m venv .tools && .tools/bin/pip install --quiet uv; fi
endef

$(VENV)/.synced: pyproject.toml uv.lock
	$(ensure_uv)
	$(UV) sync --frozen
	@touch $@

setup: $(VENV)/.synced

migrate: setup
	$(MANAGE) migrate --no-input

seed: migrate
	$(MANAGE) seed_demo

# Web server, worker, the retry sweep and the provider sandbox (Procfile.dev), stopped together by
# Ctrl-C.
# The demo connections are added after the seed, so the demo contacts are not all pushed at
# start; every contact edited from then on is pushed to the four sandbox providers.
# The Close sandbox's fields (their ids are fixed there), mapped from the demo's custom fields.
CLOSE_FIELDS := --map custom.cf_sandboxIndustry=cf:industry --map custom.cf_sandboxDealSize=cf:deal_size \
    --map custom.cf_sandboxLastMeeting=cf:last_meeting --map custom.cf_sandboxTags=field:tags
run: seed
	$(MANAGE) add_connection "GetRaze sandbox" --provider getraze --api-key sandbox-key \
	    --base-url $(SANDBOX)/getraze/external/v1 --auto-push --rate-limit 5
	$(MANAGE) add_connection "Contactship sandbox" --provider contactship --api-key sandbox-key \
	    --base-url $(SANDBOX)/contactship --auto-push --rate-limit 5
	$(MANAGE) add_connection "Klen sandbox" --provider klen --api-key sandbox-key \
	    --base-url $(SANDBOX)/klen/api/v1 --auto-push --rate-limit 5 --option team_id=1
	$(MANAGE) add_connection "Close sandbox" --provider close --api-key sandbox-key \
	    --base-url $(SANDBOX)/close/api/v1 --auto-push --rate-limit 5 \
	    --option lead_strategy=by_company $(CLOSE_FIELDS)
	@echo "Admin: http://$(HOST):$(PORT)/admin/ (sign in as demo / demo-relay-crm)"
	@echo "API docs: http://$(HOST):$(PORT)/api/docs/  Sandbox: $(SANDBOX)  Ctrl-C stops everything."
	@# honcho exits 130 after Ctrl-C, which is how this stack is meant to stop.
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" RELAY_HOST=$(HOST) RELAY_PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) \
	    $(VENV)/bin/honcho --no-prefix -f Procfile.dev start || [ $$? -eq 130 ]

# The production stack on this machine (Procfile: web, worker, scheduler), configured by the
# environment as in docs/deploy.md. It runs from its own venv without the dev dependencies, so
# `make test`'s .venv is left alone. Ctrl-C stops the three processes together.
PROD_VENV := .venv-prod
WORKERS ?= 1
$(PROD_VENV)/.synced: pyproject.toml uv.lock
	$(ensure_uv)
	UV_PROJECT_ENVIRONMENT=$(PROD_VENV) $(UV) sync --frozen --no-dev
	@touch $@

serve superuser: export DJANGO_SETTINGS_MODULE := config.settings.production
# Never make run's demo database (and its demo login): without DATABASE_URL, a SQLite file of its own.
serve superuser: export DATABASE_URL ?= sqlite:///$(CURDIR)/db.production.sqlite3
serve: $(PROD_VENV)/.synced
	@test -n "$$SECRET_KEY" || grep -qs '^SECRET_KEY=.' .env || \
	    { echo "make serve needs SECRET_KEY in the environment or .env (docs/deploy.md)"; exit 1; }
	$(PROD_VENV)/bin/python manage.py collectstatic --no-input --verbosity 0
	$(PROD_VENV)/bin/python manage.py migrate --no-input
	@echo "Relay CRM: http://$(HOST):$(PORT)/admin/  API docs: http://$(HOST):$(PORT)/api/docs/  Ctrl-C stops everything."
	@echo "First staff user: make superuser (in another terminal, with the same environment)."
	@# honcho exits 130 after Ctrl-C, which is how this stack is meant to stop. It does not read
	@# .env itself (--env /dev/null): Django's settings do, and production keeps its DEBUG off.
	@PATH="$(CURDIR)/$(PROD_VENV)/bin:$$PATH" \
	    $(PROD_VENV)/bin/honcho -f Procfile --env /dev/null start --port $(PORT) --concurrency worker=$(WORKERS) || [ $$? -eq 130 ]

# A staff user for the production stack, in the database make serve uses.
superuser: $(PROD_VENV)/.synced
	$(PROD_VENV)/bin/python manage.py createsuperuser

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The browser tests drive Debian's Chromium; installed here when missing (needs root or sudo).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing Chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

test: setup browser
	$(MANAGE) makemigrations --check --dry-run
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest $(PYTEST_ARGS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Benchmarks on PostgreSQL (DATABASE_URL, default relay_bench on 127.0.0.1; created when missing).
bench: setup
	cd bench && ../$(PY) run.py

clean:
	rm -rf $(VENV) $(PROD_VENV) .tools staticfiles
