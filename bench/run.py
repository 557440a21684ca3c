"""``make bench``: end-to-end throughput and latency of the real processes, on private ports.

For SQLite and PostgreSQL in turn: a private Redis (AOF, fsync every second, as the README
recommends), a private PostgreSQL with its stock durable settings (fsync,
synchronous_commit and full_page_writes on, as operators run it; the test servers turn
them off) or SQLite as the product configures it (WAL, synchronous = FULL), the store with
a directory of 50,000 numbers, ``sms-gateway run`` and the workers; then ``smsc-sim load``
at offered rates of 100, 500, 1,000, 2,000/s and as fast as the window allows, with the
shipped ``queue.shards`` (one shard, one worker; ``--workers N`` for another count); then
a saturation step more with two shards and two workers (``--saturation-shards``; empty
skips it), over the same database. Prints one table and writes it as JSON under
bench/results/.

Why the rate steps run one shard: it is what an operator runs unless they choose more
(``queue.shards = 1``), and on a machine where the gateway, the workers and the database
share few cores one worker applies larger batches, at a lower CPU cost per text; the
two-shard step shows what a second worker adds at saturation (docs/performance.md,
docs/operations.md "How many shards").

Two ceilings are measured in the same run, so the figures can be read as shares on any
machine (and on one that other work is using at the same time): the simulator's own
(deliver_sm/s to an ESME that only acknowledges, first) and the SMPP round trip
(bench/ceiling_esme.py: an smpplib ESME that acknowledges each deliver_sm and answers it
with one submit_sm — no queue, no database), just before and just after each saturation
step, with as many texts. The saturation rate is printed as a ratio to the mean of those
two: on a shared machine the ceiling moves within minutes.

Each step also reports the CPU a text costs in each process (gateway, workers,
PostgreSQL, Redis, the simulator), read from /proc (bench/procstat.py), and the resident
memory of the gateway and the workers at its start and end.

Environment: BENCH_QUICK=1 shortens every run; BENCH_DATABASE_URL uses that PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from bench import procstat, stages, targets
from config.settings import QueueSettings
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
# Every step sends its own random mix (seed) after a pause longer than the gateway's
# redelivery window: a text that repeats the number's last text of the previous step
# (which came on another connection) must not be taken for an SMSC redelivery and
# acknowledged without being queued — that would show as "lost" though nothing was.
REDELIVERY_WINDOW_S = 2
STEP_PAUSE_S = REDELIVERY_WINDOW_S + 1.0
NUMBERS = 50_000


def sim_cmd(port: int, *args: str) -> list[str]:
    return [str(BIN / "smsc-sim"), "--port", str(port), "--log-level", "warning", *args]


def ceiling(count: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="smsgw-ceiling-"))
    report = work / "ceiling.json"
    subprocess.run(sim_cmd(free_port(), "ceiling", "--count", str(count), "--report", str(report)),
                   check=True, capture_output=True, timeout=300)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def round_trip_ceiling(count: int) -> dict[str, Any]:
    """``smsc-sim load`` as fast as the window allows against bench/ceiling_esme.py."""
    work = Path(tempfile.mkdtemp(prefix="smsgw-roundtrip-"))
    report = work / "round-trip.json"
    port = free_port()
    esme = subprocess.Popen([sys.executable, "-m", "bench.ceiling_esme", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        subprocess.run(sim_cmd(port, "load", "--count", str(count), "--numbers", str(NUMBERS),
                               "--rate", "0", "--window", "100", "--drain-timeout", "30",
                               "--bind-timeout", "60", "--report", str(report)),
                       check=True, capture_output=True, timeout=600)
        esme.wait(30)
    finally:
        if esme.poll() is None:
            esme.kill()
            esme.wait()
    data: dict[str, Any] = json.loads(report.read_text())
    data["end_to_end_per_s"] = end_to_end_rate(data)
    return data


def end_to_end_rate(r: dict[str, Any]) -> float:
    """Texts/s acknowledged *and* answered: the lower of the two rates (a stack that
    acknowledges faster than it answers is only as fast as its answers)."""
    ack = float(r.get("mo_per_s_acknowledged") or 0)
    replies = float(r.get("replies_per_s") or 0)
    return min(ack, replies) if replies else ack


class Stack:
    """Redis + store + gateway + workers for one database."""

    def __init__(self, name: str, db_url: str, redis_url: str, work: Path, workers: int,
                 numbers: int, settings: dict[str, dict[str, Any]] | None = None) -> None:
        self.name, self.work = name, work
        self.port = free_port()
        sections: dict[str, dict[str, Any]] = {
            "smpp": {"port": self.port, "reconnect_min": 0.2, "reconnect_max": 1.0,
                     "submit_window": 100},
            "redis": {"url": redis_url, "key_prefix": f"bench-{name}"},
            "database": {"url": db_url},
            "queue": {"name": f"bench-{name}", "shards": workers,
                      "redelivery_window": REDELIVERY_WINDOW_S},
            "gateway": {"instance": f"bench-{name}"},
            "metrics": {"gateway_port": 0, "worker_port": 0},
            # The level operators run (the default): what the logging costs is measured.
            "log": {"format": "json", "level": "info"},
        }
        for section, values in (settings or {}).items():
            sections.setdefault(section, {}).update(values)
        self.config = write_config(work / f"{name}.toml", sections)
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

    def load(self, count: int, rate: float, seed: int, servers: dict[str, int]) -> dict[str, Any]:
        """One step; ``servers`` names the pids of the shared engines (postgresql, redis)."""
        report = self.work / f"{self.name}-{rate}-{count}.json"
        assert self.gateway is not None
        time.sleep(STEP_PAUSE_S)
        workers = [p.pid for p in self.procs if p is not self.gateway]
        groups = {"gateway": [self.gateway.pid], "workers": workers,
                  **{k: [v] for k, v in servers.items()}}
        rss_start = {k: procstat.rss_kib(groups[k]) for k in ("gateway", "workers")}
        cpu_start = {k: procstat.cpu_seconds(v) for k, v in groups.items()}
        # The simulator is this process's only child that ends during the step.
        sim_start = resource.getrusage(resource.RUSAGE_CHILDREN)
        logs = stages.offsets(self.work / f"{self.name}-gateway.log",
                              self.work / f"{self.name}-workers.log")
        sim = subprocess.run(sim_cmd(
            self.port, "load", "--count", str(count), "--numbers", str(self.numbers),
            "--rate", str(rate), "--window", "100", "--drain-timeout", "60",
            "--bind-timeout", "60", "--seed", str(seed), "--report", str(report)),
            env=self.env, capture_output=True, text=True, timeout=3600)
        sim_end = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {k: procstat.cpu_seconds(v) - cpu_start[k] for k, v in groups.items()}
        cpu["simulator"] = (sim_end.ru_utime + sim_end.ru_stime
                            - sim_start.ru_utime - sim_start.ru_stime)
        if not report.exists():
            raise RuntimeError(f"smsc-sim load failed: {sim.stdout[-2000:]} {sim.stderr[-2000:]}")
        data: dict[str, Any] = json.loads(report.read_text())
        data["rss_start_kib"] = rss_start
        data["rss_end_kib"] = {k: procstat.rss_kib(groups[k]) for k in ("gateway", "workers")}
        data["cpu_s"] = {k: round(v, 3) for k, v in cpu.items()}
        data["stages_ms"] = stages.stage_latency(logs)
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


CPU_GROUPS = ("gateway", "workers", "postgresql", "redis", "simulator")


def row(db: str, rate: float, r: dict[str, Any], shards: int) -> dict[str, Any]:
    lat = r.get("latency_ms") or {}
    texts = max(int(r.get("acknowledged") or 0), 1)
    cpu = r.get("cpu_s") or {}
    return {
        "db": db, "shards": shards, "offered_rate": rate or "max", "count": r.get("offered"),
        "achieved_mo_per_s": round(float(r.get("mo_per_s_acknowledged") or 0), 1),
        "replies_per_s": round(float(r.get("replies_per_s") or 0), 1),
        "end_to_end_per_s": round(end_to_end_rate(r), 1),
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        **_losses(r),
        "temp_errors": r.get("temp_errors"),
        "rss_start_mib": round(r["rss_start_kib"]["gateway"] / 1024, 1),
        "rss_end_mib": round(r["rss_end_kib"]["gateway"] / 1024, 1),
        "workers_rss_start_mib": round(r["rss_start_kib"]["workers"] / 1024, 1),
        "workers_rss_end_mib": round(r["rss_end_kib"]["workers"] / 1024, 1),
        # CPU milliseconds per acknowledged text, per process (tree)
        **{f"cpu_ms_{k}": (round(1000 * cpu[k] / texts, 3) if k in cpu else None)
           for k in CPU_GROUPS},
        "cpu_ms_total": round(1000 * sum(cpu.values()) / texts, 3),
        "round_trip_per_s": [t["end_to_end_per_s"] for t in r.get("round_trip") or []],
        **{f"{stage}_{q}_ms": v.get(q) for stage, v in (r.get("stages_ms") or {}).items()
           for q in ("p50", "p99")},
    }


def _losses(r: dict[str, Any]) -> dict[str, int]:
    """lost and doubled from the simulator's counts.

    The simulator pairs a reply with a text of its number by the words they share; when a
    number has several texts in flight it may pair one with the wrong text, then count the
    later reply as a second answer ("answered_twice") and the text passed over as done.
    So a reply missing or extra is judged by the totals too: every acknowledged text
    should have had exactly one reply.
    """
    acked, replies = int(r.get("acknowledged") or 0), int(r.get("replies") or 0)
    failed = int(r.get("failed") or 0)
    return {"lost": max(int(r.get("unanswered") or 0), acked - replies) + failed,
            "doubled": max(0, replies - acked),
            "paired_elsewhere": int(r.get("answered_twice") or 0)}


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    widths = [max(len(h), *(len(_fmt(r.get(c))) for r in rows)) for h, c in columns]
    print("  ".join(h.rjust(w) for (h, _), w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).rjust(w) for (_, c), w in zip(columns, widths, strict=True)))


def print_table(rows: list[dict[str, Any]], sim_ceiling: float) -> None:
    _table(rows, [("db", "db"), ("shards", "shards"), ("offered/s", "offered_rate"),
                  ("texts", "count"),
                  ("achieved/s", "achieved_mo_per_s"), ("replies/s", "replies_per_s"),
                  ("p50 ms", "p50_ms"), ("p90 ms", "p90_ms"), ("p99 ms", "p99_ms"),
                  ("max ms", "max_ms"), ("lost", "lost"), ("doubled", "doubled"),
                  ("mispaired", "paired_elsewhere"),
                  ("gw RSS start", "rss_start_mib"), ("gw RSS end", "rss_end_mib"),
                  ("wk RSS start", "workers_rss_start_mib"),
                  ("wk RSS end", "workers_rss_end_mib")])
    print("(lost/doubled: texts acknowledged without a reply / replies beyond one per text, "
          "from the totals; mispaired: replies the simulator paired with another text of "
          "the same number, several being in flight)")
    print("\nCPU ms per text, by process (utime+stime of each process tree, /proc):")
    _table(rows, [("db", "db"), ("shards", "shards"), ("offered/s", "offered_rate"),
                  ("gateway", "cpu_ms_gateway"),
                  ("workers", "cpu_ms_workers"), ("postgresql", "cpu_ms_postgresql"),
                  ("redis", "cpu_ms_redis"), ("simulator", "cpu_ms_simulator"),
                  ("total", "cpu_ms_total")])
    print("\nWhere a text's time goes (from the info lines' correlation ids, bench/stages.py):")
    _table(rows, [("db", "db"), ("shards", "shards"), ("offered/s", "offered_rate"),
                  ("queued→applied p50", "queued_to_applied_p50_ms"),
                  ("p99", "queued_to_applied_p99_ms"),
                  ("applied→reply accepted p50", "applied_to_accepted_p50_ms"),
                  ("p99", "applied_to_accepted_p99_ms")])
    print(f"\nsimulator ceiling: {sim_ceiling:.0f} deliver_sm/s (ack-only ESME)")
    print("round-trip ceiling: smpplib ESME, deliver_sm_resp + one submit_sm per text, no "
          "queue, no database; measured just before and just after each saturation step")
    for r in rows:
        share = targets.saturation_share(r)
        if share is None:
            continue
        trips = r["round_trip_per_s"]
        sim_share = r["end_to_end_per_s"] / sim_ceiling if sim_ceiling else 0
        print(f"{r['db']}, {_shards(r.get('shards', 1))}: saturation "
              f"{r['end_to_end_per_s']:.0f} texts/s end to end = "
              f"{share:.1%} of the round-trip ceiling ({trips[0]:.0f} before, {trips[1]:.0f} "
              f"after; {sim_share:.1%} of the simulator's)")


def _shards(n: int) -> str:
    return f"{n} shard{'' if n == 1 else 's'}"


def _loads(v: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in v)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}"
    return "-" if v is None else str(v)


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``--set queue.batch_wait_ms=5`` → {"queue": {"batch_wait_ms": 5}} (values read as
    TOML scalars: numbers, true/false, else a string)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not section or not name:
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        out.setdefault(section, {})[name] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="a setting for the gateway and workers of every stack (repeatable)")
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--workers", type=int, default=QueueSettings().shards,
                    help="shards (one worker each) of the rate steps (default: the shipped "
                    "queue.shards)")
    ap.add_argument("--saturation-count", type=int, default=100_000)
    ap.add_argument("--rates", default="100,500,1000,2000")
    ap.add_argument("--saturation-shards", default="2", metavar="N,…",
                    help="also a saturation step with each of these shard counts, after the "
                    "--workers stack's steps (default 2; empty: none)")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    work = Path(tempfile.mkdtemp(prefix="smsgw-bench-"))
    print(f"== machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; workspace {work}")
    ceil = ceiling(int(200_000 * scale))
    ceiling_rate = float(ceil.get("deliver_sm_per_s") or ceil.get("mo_per_s_acknowledged") or 0)
    print(f"== simulator ceiling: {ceiling_rate:.0f} deliver_sm/s (ack-only ESME)")
    load_start = os.getloadavg()
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
                pg = PostgresServer(dir=new_tempdir("smsgw-bench-pg-"), durable=True)
                pg.init()
                pg.start()
                wait_port(pg.port)
                admin = pg.admin_url
            dbs.append(("postgresql", create_database(admin, f"bench_{int(time.time())}")))
        rates = [float(x) for x in args.rates.split(",") if x]
        extra = [int(x) for x in args.saturation_shards.split(",") if x.strip()]
        variants = [args.workers] + [n for n in extra if n != args.workers]
        for (name, url), shards in ((d, n) for d in dbs for n in variants):
            main_stack = shards == args.workers
            # Another shard count's stack has its own queues and keys over the same database.
            label = name if main_stack else f"{name}-{shards}shards"
            stack = Stack(label, url, redis_srv.url, work,
                          shards, NUMBERS, parse_sets(args.set))
            assert redis_srv.proc is not None
            servers = {"redis": redis_srv.proc.pid}
            pg_pid = None if pg is None else procstat.postmaster_pid(pg.dir / "data")
            if name == "postgresql" and pg_pid is not None:
                servers["postgresql"] = pg_pid
            try:
                stack.prepare()
                stack.start_workers()
                stack.start_gateway()
                for step, rate in enumerate(rates if main_stack else [], start=1):
                    count = max(500, int(rate * 20 * scale))
                    r = stack.load(count, rate, step, servers)
                    raw[f"{name}-{rate}"] = r
                    rows.append(row(name, rate, r, shards))
                    print(f"   {name} offered {rate:.0f}/s: {rows[-1]}", flush=True)
                count = int(args.saturation_count * scale)
                trips = [round_trip_ceiling(count)]
                r = stack.load(count, 0, len(rates) + (1 if main_stack else 2), servers)
                trips.append(round_trip_ceiling(count))
                r["round_trip"] = trips
                print(f"   {name} ({_shards(shards)}) round-trip ceiling before/after "
                      f"saturation: {trips[0]['end_to_end_per_s']:.0f}/"
                      f"{trips[1]['end_to_end_per_s']:.0f} texts/s", flush=True)
                raw[f"{name}-max" if main_stack else f"{name}-max-{shards}shards"] = r
                rows.append(row(name, 0, r, shards))
                print(f"   {name} ({_shards(shards)}) saturation: {rows[-1]}", flush=True)
            finally:
                stack.stop()
    finally:
        redis_srv.stop()
        if pg is not None:
            pg.stop("immediate")
            shutil.rmtree(pg.dir, ignore_errors=True)
    load_end = os.getloadavg()
    print()
    print_table(rows, ceiling_rate)
    print(f"machine load average (1/5/15 min) at the start {_loads(load_start)}, "
          f"at the end {_loads(load_end)}")
    targets.print_verdicts(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "arch": platform.machine(),
                                           "loadavg_start": load_start,
                                           "loadavg_end": load_end},
                               "ceiling": ceil, "rows": rows,
                               "raw": raw}, indent=2))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
