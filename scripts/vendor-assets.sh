#!/usr/bin/env bash
# Fetch pinned front-end packages from the npm registry and copy their built files into static/.
# axe-core is test tooling only (injected by Playwright in the browser journeys, never served).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent htmx.org@2.0.11 >/dev/null && tar xzf htmx.org-2.0.11.tgz)
mkdir -p piazza/web/static/vendor/htmx
cp "$tmp/package/dist/htmx.min.js" piazza/web/static/vendor/htmx/
echo "vendored htmx 2.0.11"
AXE=4.14.1
rm -rf "$tmp/package"
(cd "$tmp" && npm pack --silent "axe-core@$AXE" >/dev/null && tar xzf "axe-core-$AXE.tgz")
mkdir -p tests/vendor/axe-core
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" tests/vendor/axe-core/
echo "$AXE" > tests/vendor/axe-core/VERSION
echo "vendored axe-core $AXE (tests only)"
