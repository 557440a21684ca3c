#!/bin/sh
# Make sure redis-server and PostgreSQL's initdb/pg_ctl exist; install them when root, else say how.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$missing postgresql"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing; }
else
  echo "missing:$missing -- install with: sudo apt-get install -y$missing" >&2
  exit 1
fi
