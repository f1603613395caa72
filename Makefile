# piazza — set-up and checks. A newcomer needs only `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export PIP_DISABLE_PIP_VERSION_CHECK=1

.PHONY: install demo test lint format typecheck migrations-check pytest date-sweep restore-drill bench worker vendor messages browsers

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
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .

typecheck: install
	$(VENV)/bin/mypy

migrations-check: install
	PIAZZA_ENV=test $(PY) manage.py makemigrations --check --dry-run

browsers:
	bash scripts/ensure-chromium.sh

# One worker per CPU (pytest-xdist, ADR 0031); `make pytest PYTEST_XDIST="-n 0"` runs serially.
PYTEST_XDIST ?= -n auto --dist worksteal
pytest: install
	PIAZZA_ENV=test $(VENV)/bin/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The date sweep. The suite runs on a frozen clock (piazza/core/testing_clock.py: a plain Wednesday by
# default, PIAZZA_TEST_TODAY=YYYY-MM-DD[THH:MM] moves it); the date-sensitive tests below run again once
# per awkward "today", on whatever DATABASE_URL says (one process per day, one shared test database):
#   2026-12-12        a Saturday; its 14-day SEPA lead time ends on 26 December, closed
#   2026-12-24        Thursday before three closed days; a 14-day lead time spans New Year
#   2027-03-26        Good Friday (TARGET2 closed until Tuesday; summer time starts on Sunday)
#   2026-12-31T23:30  the year ends in 30 minutes
#   2028-02-29T00:30  29 February, still the 28th in UTC
#   2027-03-28T02:30  summer time starts in Rome: 02:30 does not exist (it reads as 03:30 CEST)
# A test that fails on one of them is a calendar defect, in the test or in the code. Keep the run short
# (about 2.5 minutes on this 2-core machine): list modules whose subject is dates, not every user of one.
DATE_SWEEP_DAYS ?= 2026-12-12 2026-12-24 2027-03-26 2026-12-31T23:30 2028-02-29T00:30 2027-03-28T02:30
DATE_SENSITIVE_TESTS ?= \
	piazza/membership/tests/test_appeals.py \
	piazza/membership/tests/test_fee_cap.py \
	tests/test_clock.py \
	piazza/payments/bank/tests/test_banking_days.py \
	piazza/payments/bank/tests/test_mandates.py \
	piazza/payments/bank/tests/test_payouts.py \
	piazza/payments/bank/tests/test_queued_lines.py \
	piazza/membership/tests/test_join.py \
	piazza/membership/tests/test_fees.py \
	piazza/membership/tests/test_renewal.py \
	piazza/membership/tests/test_rolls.py \
	piazza/membership/tests/test_review.py \
	piazza/membership/tests/test_screens.py \
	piazza/membership/tests/test_desk_and_albo.py \
	piazza/membership/tests/test_views.py \
	piazza/membership/tests/test_calendar.py \
	piazza/payments/tests/test_recurring_calendar.py \
	piazza/funding/tests/test_campaigns.py \
	piazza/funding/tests/test_lifecycle.py \
	piazza/funding/tests/test_calendar.py \
	piazza/compliance/tests/test_rules.py \
	piazza/people/tests/test_calendar.py \
	piazza/people/tests/test_segments.py \
	piazza/people/tests/test_codice_fiscale.py

date-sweep: install
	$(PY) scripts/date_sweep.py --days "$(DATE_SWEEP_DAYS)" $(DATE_SENSITIVE_TESTS)

# The restore drill (scripts/restore-drill.sh, issue 14): when the suite runs on PostgreSQL, a
# pgBackRest backup plus archived WAL is restored to a moment in a scratch cluster, which must
# pass check_ledger and check_audit; the data is written through PgBouncer in transaction mode.
# Installs Debian's pgbackrest and pgbouncer when root can; skips with the reason otherwise.
restore-drill: install
	@case "$${DATABASE_URL:-}" in postgres*) ;; *) echo "restore drill skipped: it runs when DATABASE_URL points at PostgreSQL"; exit 0;; esac; \
	if ! { command -v pgbackrest && test -x /usr/sbin/pgbouncer; } >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest pgbouncer >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest pgbouncer >/dev/null; }; fi; \
	if ! { command -v pgbackrest && test -x /usr/sbin/pgbouncer; } >/dev/null; then echo "restore drill skipped: pgbackrest or pgbouncer is not installed"; exit 0; fi; \
	bash scripts/restore-drill.sh 10

test: install browsers lint typecheck migrations-check pytest date-sweep restore-drill

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
