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

demo: install
	PIAZZA_ENV=development $(PY) manage.py migrate --noinput
	PIAZZA_ENV=development $(PY) manage.py load_territory
	PIAZZA_ENV=development $(PY) manage.py seed_demo --people 300
	bash scripts/serve-demo.sh

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
