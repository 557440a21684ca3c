#!/bin/sh
# Runs the date-sensitive suites with the machine's clock shifted a year and more either way
# (libfaketime) and in the time zones furthest from UTC. The servers (Redis, PostgreSQL) are
# started once outside the shifted clock and handed over by TEST_REDIS_URL/TEST_DATABASE_URL,
# as a real deployment's servers keep their own time. Needs: apt-get install -y faketime.
# Usage: sh scripts/clock-check.sh            (from the repository root, after make venv)
set -u
command -v faketime >/dev/null || { echo "faketime missing: apt-get install -y faketime" >&2; exit 2; }
PY=.venv/bin/python
urls=$(mktemp)
PYTHONPATH=. $PY - "$urls" <<'PYEOF' &
import sys, time
from tests.support import servers
r = servers.RedisServer(dir=servers.new_tempdir("clock-redis-")); r.start()
p = servers.PostgresServer(dir=servers.new_tempdir("clock-pg-")); p.init(); p.start()
open(sys.argv[1], "w").write(f"{r.url}\n{p.admin_url}\n")
try:
    while True:
        time.sleep(3600)
finally:
    r.stop(); p.stop("immediate")
PYEOF
srv=$!
trap 'kill $srv 2>/dev/null' EXIT INT TERM
while [ ! -s "$urls" ]; do sleep 0.5; done
TEST_REDIS_URL=$(sed -n 1p "$urls"); TEST_DATABASE_URL=$(sed -n 2p "$urls")
export TEST_REDIS_URL TEST_DATABASE_URL
fail=0
log=$(mktemp)
suite() {  # suite LABEL COMMAND...: run, print pytest's last line, remember a failure
  label=$1; shift
  echo "== $label"
  "$@" -q -p no:cacheprovider >"$log" 2>&1 || fail=1
  tail -1 "$log"
}
# The suites whose subject is time: the pure core, the store (lapse, erase, state at an
# instant) and the CLI that drives them (tests/ctl/test_cli.py: lapse, erase, show --at).
# The worker-mechanics suites are left out of the shifted runs: libfaketime also shifts the
# timed waits of RQ's and Python's threads (seen: time.sleep raising EINVAL, waits running
# for minutes), which says nothing about our dates; they run in the time-zone runs below.
for shift in +400d -400d; do
  suite "faketime $shift: tests/core tests/store tests/ctl/test_cli.py" \
    faketime -f "$shift" .venv/bin/pytest tests/core tests/store tests/ctl/test_cli.py
done
for tz in Pacific/Kiritimati America/Adak; do
  suite "TZ=$tz: tests/core tests/store tests/workers tests/ctl" \
    env TZ=$tz .venv/bin/pytest tests/core tests/store tests/workers tests/ctl
done
rm -f "$log"
exit $fail
