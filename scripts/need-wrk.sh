#!/bin/sh
# wrk, the HTTP load generator `make bench` drives the API with (bench/push.py): Debian's
# package, not our code. Installed when root, else the one line to run is printed.
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: wrk"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
else
  echo "missing: wrk -- install with: sudo apt-get install -y wrk" >&2
  exit 1
fi
