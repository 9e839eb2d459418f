# Everything a developer runs. `make run` and `make test` are the two that matter;
# both install what is missing first, so they work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) scripts/stack.py

.PHONY: help install run stop reset status env token migrate migration schema-check test test-unit lint format openapi bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

install: $(VENV)/.installed node_modules/.installed  ## install the virtualenv and the npm tools if missing

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# Installers write to stderr only: `$$(make -s token)` must capture nothing but the token.
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]' >&2
	@# Bytecode for our own sources too: with PYTHONDONTWRITEBYTECODE set (as on the CI
	@# machines) every cold start of a function would compile them again.
	$(PY) -m compileall -q functions >&2
	@touch $@

node_modules/.installed: package.json package-lock.json
	# `npm ci` refuses this lockfile: the registry mirror lacks the Supabase CLI builds for
	# other platforms, so they are missing from it. `npm install --no-save` still installs
	# exactly the locked versions and never rewrites the lockfile.
	npm install --no-audit --no-fund --no-save --loglevel=error >&2
	@touch $@

run: install  ## start the local stack and all functions; Ctrl-C stops them
	@$(STACK) run

stop:  ## stop every process of the dev and test stacks
	@test -x $(PY) || exit 0; $(STACK) --name dev down; $(STACK) --name test down

reset: install  ## stop the dev stack and delete its data (next `make run` starts fresh)
	@$(STACK) --name dev reset

status: install  ## URLs, keys and processes of the dev stack, like `supabase status`
	@$(STACK) status

env: install  ## a frontend's .env lines for the dev stack: make env [PREFIX=VITE_]
	@$(STACK) env --frontend --format dotenv $(if $(PREFIX),--prefix $(PREFIX))

token: install  ## a user token: make token EMAIL=bob@example.com [ADMIN=1]
	@$(STACK) user --email $(or $(EMAIL),alice@example.com) $(if $(ADMIN),--admin)

migrate: install  ## apply new migrations to the running dev stack
	@$(STACK) migrate

migration: install  ## write the next migration from supabase/schemas: make migration NAME=add_x
	@test -n "$(NAME)" || { echo "usage: make migration NAME=add_x"; exit 2; }
	@$(PY) scripts/schema_diff.py migration $(NAME)

schema-check: install  ## fail when supabase/migrations and supabase/schemas disagree
	@$(PY) scripts/schema_diff.py check

test: install  ## every test, on its own isolated stack, with the coverage bar
	$(PY) -m pytest --cov=functions --cov-branch --cov-report=term --cov-fail-under=90

test-unit: install  ## unit tests only, no database
	$(PY) -m pytest tests/unit -q

lint: install  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy functions

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

openapi: install  ## regenerate functions/openapi.json, docs/errors.md and the SQL status view from the code
	$(PY) -m functions.openapi > functions/openapi.json
	$(PY) -m functions.openapi errors > docs/errors.md
	$(PY) -m functions.openapi sql > supabase/schemas/11_error_statuses.sql

bench: install  ## the side-by-side benchmarks (minutes); results in bench/results/
	$(PY) bench/run.py

clean: stop  ## remove the stacks' data, the virtualenv and node_modules
	rm -rf .stack $(VENV) node_modules
