"""``make bench``: end-to-end throughput and latency of the real processes, on private ports.

For SQLite and PostgreSQL in turn: a private Redis (AOF, fsync every second, as the README
recommends), the store with a directory of 50,000 numbers, ``sms-gateway run`` and the
workers; then ``smsc-sim load`` at offered rates of 100, 500, 1,000, 2,000/s and as fast
as the window allows. Prints one table and writes it as JSON under bench/results/. The
simulator's own ceiling (against an ESME that only acknowledges) is measured first, so the
gateway's figure can be read as a share of it on any machine.

Environment: BENCH_QUICK=1 shortens every run; BENCH_DATABASE_URL uses that PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.pipeline import write_config
from tests.support.servers import (
    PostgresServer,
    RedisServer,
    create_database,
    free_port,
    new_tempdir,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sim_cmd(port: int, *args: str) -> list[str]:
    return [str(BIN / "smsc-sim"), "--port", str(port), "--log-level", "warning", *args]


def ceiling(count: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="smsgw-ceiling-"))
    report = work / "ceiling.json"
    subprocess.run(sim_cmd(free_port(), "ceiling", "--count", str(count), "--report", str(report)),
                   check=True, capture_output=True, timeout=300)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


class Stack:
    """Redis + store + gateway + workers for one database."""

    def __init__(self, name: str, db_url: str, redis_url: str, work: Path, workers: int,
                 numbers: int) -> None:
        self.name, self.work = name, work
        self.port = free_port()
        self.config = write_config(work / f"{name}.toml", {
            "smpp": {"port": self.port, "reconnect_min": 0.2, "reconnect_max": 1.0,
                     "submit_window": 100},
            "redis": {"url": redis_url, "key_prefix": f"bench-{name}"},
            "database": {"url": db_url},
            "queue": {"name": f"bench-{name}", "shards": workers},
            "gateway": {"instance": f"bench-{name}"},
            "metrics": {"gateway_port": 0, "worker_port": 0},
            "log": {"format": "json", "level": "warning"},
        })
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        self.env["SMSGW_CONFIG"] = str(self.config)
        self.workers = workers
        self.numbers = numbers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gateway: subprocess.Popen[bytes] | None = None

    def ctl(self, *args: str) -> None:
        subprocess.run([str(BIN / "consentctl"), *args], env=self.env, check=True,
                       capture_output=True, timeout=600)

    def prepare(self) -> None:
        self.ctl("db", "upgrade")
        csv = self.work / f"{self.name}-directory.csv"
        with csv.open("w") as f:
            f.write("msisdn,client_group,independent\n")
            for i in range(self.numbers):
                f.write(f"3712{i:07d},{'lmt' if i % 5 else 'other'},true\n")
        self.ctl("subscribers", "import", str(csv))

    def start_workers(self) -> None:
        log = (self.work / f"{self.name}-workers.log").open("ab")
        for shard in range(self.workers):
            self.procs.append(subprocess.Popen(
                [str(BIN / "consent-worker"), "run", "--shard", str(shard)], env=self.env,
                stdout=log, stderr=log))

    def start_gateway(self) -> None:
        log = (self.work / f"{self.name}-gateway.log").open("ab")
        self.gateway = subprocess.Popen([str(BIN / "sms-gateway"), "run"], env=self.env,
                                        stdout=log, stderr=log)
        self.procs.append(self.gateway)

    def load(self, count: int, rate: float) -> dict[str, Any]:
        report = self.work / f"{self.name}-{rate}-{count}.json"
        assert self.gateway is not None
        rss_start = rss_kib(self.gateway.pid)
        sim = subprocess.run(sim_cmd(
            self.port, "load", "--count", str(count), "--numbers", str(self.numbers),
            "--rate", str(rate), "--window", "100", "--drain-timeout", "60",
            "--bind-timeout", "60", "--report", str(report)),
            env=self.env, capture_output=True, text=True, timeout=3600)
        if not report.exists():
            raise RuntimeError(f"smsc-sim load failed: {sim.stdout[-2000:]} {sim.stderr[-2000:]}")
        data: dict[str, Any] = json.loads(report.read_text())
        data["rss_start_kib"] = rss_start
        data["rss_end_kib"] = rss_kib(self.gateway.pid)
        return data

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def row(db: str, rate: float, r: dict[str, Any]) -> dict[str, Any]:
    lat = r.get("latency_ms") or {}
    return {
        "db": db, "offered_rate": rate or "max", "count": r.get("offered"),
        "achieved_mo_per_s": round(float(r.get("mo_per_s_acknowledged") or 0), 1),
        "replies_per_s": round(float(r.get("replies_per_s") or 0), 1),
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "lost": int(r.get("unanswered") or 0) + int(r.get("failed") or 0),
        "doubled": int(r.get("answered_twice") or 0),
        "temp_errors": r.get("temp_errors"),
        "rss_start_mib": round(r["rss_start_kib"] / 1024, 1),
        "rss_end_mib": round(r["rss_end_kib"] / 1024, 1),
    }


def print_table(rows: list[dict[str, Any]], ceiling_rate: float) -> None:
    cols = ["db", "offered_rate", "count", "achieved_mo_per_s", "replies_per_s", "p50_ms",
            "p90_ms", "p99_ms", "max_ms", "lost", "doubled", "rss_start_mib", "rss_end_mib"]
    head = ["db", "offered/s", "texts", "achieved/s", "replies/s", "p50 ms", "p90 ms", "p99 ms",
            "max ms", "lost", "doubled", "RSS start", "RSS end"]
    widths = [max(len(h), *(len(_fmt(r[c])) for r in rows)) for h, c in zip(head, cols, strict=True)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r[c]).rjust(w) for c, w in zip(cols, widths, strict=True)))
    sat = [r for r in rows if r["offered_rate"] == "max"]
    for r in sat:
        share = r["achieved_mo_per_s"] / ceiling_rate if ceiling_rate else 0
        print(f"{r['db']}: saturation {r['achieved_mo_per_s']:.0f} texts/s = {share:.1%} of the "
              f"simulator's ceiling ({ceiling_rate:.0f} deliver_sm/s to an ack-only ESME)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}"
    return "-" if v is None else str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--saturation-count", type=int, default=100_000)
    ap.add_argument("--rates", default="100,500,1000,2000")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    work = Path(tempfile.mkdtemp(prefix="smsgw-bench-"))
    print(f"== machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; workspace {work}")
    ceil = ceiling(int(200_000 * scale))
    ceiling_rate = float(ceil.get("deliver_sm_per_s") or ceil.get("mo_per_s_acknowledged") or 0)
    print(f"== simulator ceiling: {ceiling_rate:.0f} deliver_sm/s (ack-only ESME)")
    redis_srv = RedisServer(dir=new_tempdir("smsgw-bench-redis-"))
    redis_srv.start()
    pg: PostgresServer | None = None
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    try:
        dbs: list[tuple[str, str]] = []
        if args.db in ("sqlite", "both"):
            dbs.append(("sqlite", f"sqlite:///{work}/bench.db"))
        if args.db in ("postgresql", "both"):
            admin = os.environ.get("BENCH_DATABASE_URL")
            if not admin:
                pg = PostgresServer(dir=new_tempdir("smsgw-bench-pg-"))
                pg.init()
                pg.start()
                wait_port(pg.port)
                admin = pg.admin_url
            dbs.append(("postgresql", create_database(admin, f"bench_{int(time.time())}")))
        rates = [float(x) for x in args.rates.split(",") if x]
        for name, url in dbs:
            stack = Stack(name, url, redis_srv.url, work, args.workers, 50_000)
            try:
                stack.prepare()
                stack.start_workers()
                stack.start_gateway()
                for rate in rates:
                    count = max(500, int(rate * 20 * scale))
                    r = stack.load(count, rate)
                    raw[f"{name}-{rate}"] = r
                    rows.append(row(name, rate, r))
                    print(f"   {name} offered {rate:.0f}/s: {rows[-1]}", flush=True)
                r = stack.load(int(args.saturation_count * scale), 0)
                raw[f"{name}-max"] = r
                rows.append(row(name, 0, r))
                print(f"   {name} saturation: {rows[-1]}", flush=True)
            finally:
                stack.stop()
    finally:
        redis_srv.stop()
        if pg is not None:
            pg.stop("immediate")
            shutil.rmtree(pg.dir, ignore_errors=True)
    print()
    print_table(rows, ceiling_rate)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "arch": platform.machine()},
                               "ceiling": ceil, "rows": rows, "raw": raw}, indent=2))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
