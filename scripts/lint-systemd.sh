#!/bin/sh
# Verify every unit in systemd/ and print each service's `systemd-analyze security`
# exposure (0 = locked down, 10 = wide open). Used by `make lint`.
# Fails when a unit does not verify cleanly or an exposure rises above MAX_EXPOSURE.
set -u
MAX_EXPOSURE=${MAX_EXPOSURE:-1.5}
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd-analyze not found: unit checks skipped (apt-get install -y systemd)"; exit 0
fi
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The units name the installed programs (/opt/sms-gateway/.venv/bin, docs/operations.md);
# verify copies pointing at this checkout's venv, so a missing program is a real finding.
for u in "$root"/systemd/*.service "$root"/systemd/*.timer; do
  [ -e "$u" ] || continue
  sed "s|/opt/sms-gateway/\.venv/bin/|$root/.venv/bin/|g" "$u" >"$tmp/$(basename "$u")"
done
# A template is checked as an instance, the way systemctl starts it.
units=""
for u in "$tmp"/*; do
  [ -e "$u" ] || continue
  name=$(basename "$u")
  case "$name" in
    *@.service) inst="${name%@.service}@0.service"; ln -s "$name" "$tmp/$inst"; name=$inst ;;
  esac
  units="$units $name"
done
[ -n "$units" ] || { echo "no units in systemd/"; exit 0; }

status=0
echo "== systemd-analyze verify"
# verify exits 0 on warnings (unknown keys, bad values): any output counts as a failure.
out=$(cd "$tmp" && systemd-analyze verify --man=no $units 2>&1)
if [ -n "$out" ]; then printf '%s\n' "$out"; status=1; else echo "ok:$units"; fi

echo "== systemd-analyze security (offline; max allowed $MAX_EXPOSURE)"
for name in $units; do
  case "$name" in *.service) ;; *) continue ;; esac
  line=$(cd "$tmp" && systemd-analyze security --offline=true --no-pager "$name" 2>&1 | tail -1)
  echo "$line"
  level=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9][0-9.]*\) .*/\1/p')
  if [ -z "$level" ] || awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l > m) }'; then
    echo "  exposure of $name is above $MAX_EXPOSURE (or unreadable)"; status=1
  fi
done
exit $status
