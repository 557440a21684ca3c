#!/bin/sh
# The console's browser tests drive Debian's chromium through Playwright (no browser
# download): install it when root, else say how.
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
else
  echo "missing: chromium -- install with: sudo apt-get install -y chromium" >&2
  exit 1
fi
