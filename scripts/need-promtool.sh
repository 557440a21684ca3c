#!/bin/sh
# promtool (checks and unit-tests ops/prometheus/alerts.yml). Taken from Debian's
# prometheus package into .venv/bin: only the one binary, no service is installed or run.
set -eu
VENV=${1:-.venv}
command -v promtool >/dev/null 2>&1 && exit 0
[ -x "$VENV/bin/promtool" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1) && \
     dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x" && [ -x "$tmp/x/usr/bin/promtool" ]; then
    cp "$tmp/x/usr/bin/promtool" "$VENV/bin/promtool"
    rm -rf "$tmp"
    echo "promtool: taken from Debian's prometheus package into $VENV/bin"
    exit 0
  fi
  rm -rf "$tmp"
fi
echo "missing: promtool -- install with: sudo apt-get install -y prometheus" >&2
exit 1
