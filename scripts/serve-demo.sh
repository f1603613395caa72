#!/usr/bin/env bash
# Serve the demo on http://127.0.0.1:8000 with a background task worker beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIAZZA_ENV=development
.venv/bin/python manage.py worker >var/worker.log 2>&1 &
worker=$!
.venv/bin/python manage.py scheduler >var/scheduler.log 2>&1 &
scheduler=$!
trap 'kill $worker $scheduler 2>/dev/null || true' EXIT INT TERM
echo "piazza: http://127.0.0.1:8000  (worker log: var/worker.log)"
.venv/bin/python manage.py runserver 127.0.0.1:8000
