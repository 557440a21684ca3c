"""``make bench-directory``: ``consentctl subscribers sync`` over a 1,500,000-row directory.

Starts a private PostgreSQL and Redis (or uses BENCH_DATABASE_URL / BENCH_REDIS_URL),
writes the CSV files into a temporary directory (deleted afterwards, never committed) and
runs the real command under ``/usr/bin/time -v`` three times: the first sync into an empty
directory, a dry run of the next night's file, and that file applied (1 % changed group,
0.5 % changed independence, 0.5 % new holder, 0.5 % left, 0.2 % added). Prints wall time
and peak RSS of each; JSON to bench/results/directory.json. ``BENCH_DIRECTORY_ROWS`` sets
the size, ``BENCH_DIRECTORY_SQLITE=1`` runs the same on SQLite too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from consent_store.engine import upgrade
from tests.support.servers import (
    PostgresServer,
    RedisServer,
    create_database,
    new_tempdir,
    wait_port,
)

ROWS = int(os.environ.get("BENCH_DIRECTORY_ROWS", "1500000"))
RESULTS = Path(__file__).resolve().parent / "results"
CTL = str(Path(sys.executable).parent / "consentctl")


def number(i: int) -> str:
    return f"3712{i:07d}"


def write_first(path: Path, rows: int) -> None:
    with path.open("w") as fh:
        fh.write("msisdn,client_group,independent,holder\n")
        for i in range(rows):
            group = "other" if i % 5 == 0 else "lmt"
            fh.write(f"{number(i)},{group},{'false' if i % 50 == 0 else 'true'},C{i}\n")


def write_next(path: Path, rows: int) -> None:
    """The next night's export: every kind of change, in a known share."""
    with path.open("w") as fh:
        fh.write("msisdn,client_group,independent,holder\n")
        for i in range(rows + rows // 500):
            if i < rows and i % 200 == 7:
                continue  # 0.5 % left
            group = "other" if i % 5 == 0 else "lmt"
            if i % 100 == 3:
                group = "lmt" if group == "other" else "other"  # 1 % changed group
            independent = i % 50 != 0
            if i % 200 == 11:
                independent = not independent  # 0.5 % changed independence
            holder = f"C{i}" if i % 200 != 13 else f"N{i}"  # 0.5 % new holder
            fh.write(f"{number(i)},{group},{'true' if independent else 'false'},{holder}\n")


def timed(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``argv`` under /usr/bin/time -v: wall seconds, peak RSS, exit code, output."""
    done = subprocess.run(["/usr/bin/time", "-v", *argv], capture_output=True, text=True,
                          env=env, timeout=1800)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    seconds = None
    if wall:
        h, m, s = wall.groups()
        seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    return {"exit": done.returncode, "wall_s": seconds,
            "max_rss_mib": round(int(rss.group(1)) / 1024, 1) if rss else None,
            "stdout_tail": done.stdout.strip().splitlines()[-8:]}


def run(url: str, redis_url: str, tmp: Path) -> dict[str, Any]:
    upgrade(url)
    config = tmp / "gateway.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[redis]\nurl = "{redis_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    first, second = tmp / "directory-1.csv", tmp / "directory-2.csv"
    write_first(first, ROWS)
    write_next(second, ROWS)
    base = [CTL, "--config", str(config), "subscribers", "sync"]
    out = {"rows": ROWS,
           "first_sync": timed([*base, str(first), "--json"], env),
           "next_dry_run": timed([*base, str(second), "--dry-run", "--json"], env),
           "next_sync": timed([*base, str(second), "--yes", "--json"], env)}
    for f in (first, second):
        f.unlink()
    return out


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {}
    tmp = new_tempdir("bench-directory-")
    servers: list[Any] = []
    try:
        redis_url = os.environ.get("BENCH_REDIS_URL")
        if not redis_url:
            (tmp / "redis").mkdir()
            r = RedisServer(tmp / "redis")
            r.start()
            servers.append(r)
            redis_url = r.url
        url = os.environ.get("BENCH_DATABASE_URL")
        if not url:
            pg = PostgresServer(tmp / "pg", durable=True)
            (tmp / "pg").mkdir()
            pg.init()
            pg.start()
            wait_port(pg.port)
            servers.append(pg)
            url = create_database(pg.admin_url, "bench_directory")
        results["postgresql"] = run(url, redis_url, tmp)
        if os.environ.get("BENCH_DIRECTORY_SQLITE"):
            results["sqlite"] = run(f"sqlite:///{tmp}/directory.db", redis_url, tmp)
    finally:
        for s in reversed(servers):
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    (RESULTS / "directory.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'database':<12}{'step':<16}{'exit':>5}{'wall s':>9}{'peak RSS MiB':>14}")
    for db, steps in results.items():
        for step in ("first_sync", "next_dry_run", "next_sync"):
            r = steps[step]
            print(f"{db:<12}{step:<16}{r['exit']:>5}{r['wall_s']:>9.1f}{r['max_rss_mib']:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
