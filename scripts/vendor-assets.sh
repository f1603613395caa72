#!/usr/bin/env bash
# Fetch pinned front-end packages from the npm registry and copy their built files into static/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent htmx.org@2.0.11 >/dev/null && tar xzf htmx.org-2.0.11.tgz)
mkdir -p piazza/web/static/vendor/htmx
cp "$tmp/package/dist/htmx.min.js" piazza/web/static/vendor/htmx/
echo "vendored htmx 2.0.11"
