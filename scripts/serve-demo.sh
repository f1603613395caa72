#!/usr/bin/env bash
# Serve the demo on http://127.0.0.1:$PORT (default 8000) with a background task worker beside it.
# Links in emails follow the port unless SITE_URL is set; emails are files in var/emails/
# unless EMAIL_BACKEND is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIAZZA_ENV=development
PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:${PORT}}"
export EMAIL_BACKEND="${EMAIL_BACKEND:-django.core.mail.backends.filebased.EmailBackend}"
mkdir -p var/emails
.venv/bin/python manage.py worker >var/worker.log 2>&1 &
worker=$!
.venv/bin/python manage.py scheduler >var/scheduler.log 2>&1 &
scheduler=$!
trap 'kill $worker $scheduler 2>/dev/null || true' EXIT INT TERM
echo "piazza: http://127.0.0.1:${PORT}  (links in emails: ${SITE_URL}; worker log: var/worker.log)"
if [ "$EMAIL_BACKEND" = "django.core.mail.backends.filebased.EmailBackend" ]; then
  echo "piazza: demo emails are written as files in var/emails/ (one .log file per email)"
fi
.venv/bin/python manage.py runserver "127.0.0.1:${PORT}"
