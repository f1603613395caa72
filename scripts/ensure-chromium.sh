#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (never a downloaded browser build).
# Installs it when missing and we are root; otherwise browser tests skip and say why.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium and chromium-driver for browser tests…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null \
    && exit 0
fi
echo "chromium not available: browser tests will be skipped (install Debian's chromium)." >&2
exit 0
