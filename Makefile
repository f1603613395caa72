# piazza — set-up and checks. A newcomer needs only `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: install demo test lint typecheck migrations-check pytest bench worker vendor messages browsers

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	touch $@

# `PORT=8080 make demo` serves elsewhere; links in emails follow it unless SITE_URL is set.
# Demo emails are written as files in var/emails/ (unless EMAIL_BACKEND is set).
PORT ?= 8000
DEMO_ENV = PIAZZA_ENV=development PORT=$(PORT) SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT)}" \
	EMAIL_BACKEND="$${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"

demo: install
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py load_territory
	$(DEMO_ENV) $(PY) manage.py seed_demo --people 300
	$(DEMO_ENV) bash scripts/serve-demo.sh

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

migrations-check: install
	PIAZZA_ENV=test $(PY) manage.py makemigrations --check --dry-run

browsers:
	bash scripts/ensure-chromium.sh

pytest: install
	PIAZZA_ENV=test $(VENV)/bin/pytest $(PYTEST_ARGS)

test: install browsers lint typecheck migrations-check pytest

bench: install
	$(PY) -m benchmarks

worker: install
	$(PY) manage.py worker

# Re-vendor front-end assets from the npm registry (committed; never loaded from a CDN).
vendor:
	bash scripts/vendor-assets.sh

# Regenerate and compile translation catalogues (needs Debian's gettext).
messages: install
	$(PY) manage.py makemessages -l en --ignore=.venv --ignore=var
	$(PY) manage.py compilemessages -l en
