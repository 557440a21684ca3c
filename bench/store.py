"""Consent-store benchmark: changes/s one per transaction vs batched, and may_use latency.

For the batched run it also says what a change costs in CPU: in this process (the worker's
share: building the batch, SQLAlchemy, the driver) and, for the PostgreSQL this bench
starts itself, in the server's processes (read from /proc, bench/procstat.py); and what a
small batch (BENCH_SMALL_BATCH texts, 5: the worker's batch at a moderate rate) costs in
wall time and CPU — the fixed cost of a transaction.

    python -m bench.store        (make bench-store)

Runs on a throwaway PostgreSQL (or ``BENCH_DATABASE_URL``) and an SQLite file; prints the
figures and writes them to ``bench/results/store.json``. Takes about a minute.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import procstat
from consent_core.catalog import Catalog, load_catalog
from consent_core.model import CONSENTS
from consent_store.engine import upgrade
from consent_store.errors import safe_url
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore

NUMBERS = 20_000
SINGLE = int(os.environ.get("BENCH_SINGLE", "1500"))
BATCHED = int(os.environ.get("BENCH_BATCHED", "30000"))
BATCH = 200
# The worker's batch at an offered 500 texts/s (the gateway gathers ~20 ms of texts):
# where the fixed cost of a transaction shows (issue 27).
SMALL = int(os.environ.get("BENCH_SMALL_BATCH", "5"))
SMALL_BATCHES = int(os.environ.get("BENCH_SMALL_BATCHES", "400"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "3000"))
RESULTS = Path(__file__).with_name("results")


class Workload:
    """Random gives and withdrawals from a directory of numbers, seq increasing per number."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.numbers = [f"3712{i:07d}" for i in range(NUMBERS)]
        self.seq: Counter[str] = Counter()
        self.t = datetime(2026, 1, 1, tzinfo=UTC)

    def requests(self, n: int) -> list[ChangeRequest]:
        out = []
        for _ in range(n):
            msisdn = self.rnd.choice(self.numbers)
            self.seq[msisdn] += 1
            self.t += timedelta(milliseconds=10)
            consent = self.rnd.choice(CONSENTS)
            action = self.rnd.choice(("give", "give", "withdraw"))
            out.append(ChangeRequest(
                event_id=uuid.uuid4().hex, msisdn=msisdn, action=action, consent=consent,
                channel="sms", received_at=self.t, ingest_seq=self.seq[msisdn],
                text=consent if action == "give" else f"{consent} STOP",
                raw_hex=consent.encode().hex(), data_coding=0,
                correlation_id=uuid.uuid4().hex,
                smsc={"source_addr_ton": 1, "source_addr_npi": 1, "sequence": 1}))
        return out


def bench_backend(name: str, url: str, catalog: Catalog,
                  server_pid: int | None = None) -> dict[str, Any]:
    upgrade(url)
    store = ConsentStore(url)
    work = Workload(seed=1)
    t = time.perf_counter()
    store.import_subscribers((n, "lmt" if i % 4 else "other", True)
                             for i, n in enumerate(work.numbers))
    import_s = time.perf_counter() - t

    single = work.requests(SINGLE)
    t = time.perf_counter()
    for r in single:
        store.apply(r, catalog=catalog)
    single_rate = SINGLE / (time.perf_counter() - t)

    batched = work.requests(BATCHED)
    server = [server_pid] if server_pid else []
    cpu, server_cpu = time.process_time(), procstat.cpu_seconds(server)
    t = time.perf_counter()
    for k in range(0, len(batched), BATCH):
        store.apply_batch(batched[k:k + BATCH], catalog=catalog)
    batched_rate = BATCHED / (time.perf_counter() - t)
    cpu_ms = 1000 * (time.process_time() - cpu) / BATCHED
    server_ms = 1000 * (procstat.cpu_seconds(server) - server_cpu) / BATCHED

    # Small batches: the fixed cost of a transaction, per batch.
    small = work.requests(SMALL * SMALL_BATCHES)
    cpu, server_cpu = time.process_time(), procstat.cpu_seconds(server)
    t = time.perf_counter()
    for k in range(0, len(small), SMALL):
        store.apply_batch(small[k:k + SMALL], catalog=catalog)
    small_wall_ms = 1000 * (time.perf_counter() - t) / SMALL_BATCHES
    small_cpu_ms = 1000 * (time.process_time() - cpu) / SMALL_BATCHES
    small_server_ms = 1000 * (procstat.cpu_seconds(server) - server_cpu) / SMALL_BATCHES

    # Replays (a redelivered batch): how fast duplicates are recognised.
    t = time.perf_counter()
    for k in range(0, 20 * BATCH, BATCH):
        store.apply_batch(batched[k:k + BATCH], catalog=catalog)
    replay_rate = 20 * BATCH / (time.perf_counter() - t)

    rnd = random.Random(2)
    lat = []
    for _ in range(LOOKUPS):
        msisdn, consent = rnd.choice(work.numbers), rnd.choice(CONSENTS)
        t = time.perf_counter()
        store.may_use(msisdn, consent)
        lat.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(lat, n=100)
    store.close()
    return {
        "backend": name, "url": safe_url(url),
        "import_rows_per_s": round(NUMBERS / import_s),
        "changes_per_s_one_per_transaction": round(single_rate),
        f"changes_per_s_batched_{BATCH}": round(batched_rate),
        f"replays_per_s_batched_{BATCH}": round(replay_rate),
        "worker_cpu_ms_per_change": round(cpu_ms, 3),
        "server_cpu_ms_per_change": round(server_ms, 3) if server else None,
        f"batch_of_{SMALL}_wall_ms": round(small_wall_ms, 2),
        f"batch_of_{SMALL}_worker_cpu_ms": round(small_cpu_ms, 2),
        f"batch_of_{SMALL}_server_cpu_ms": round(small_server_ms, 2) if server else None,
        "may_use_p50_ms": round(q[49], 3), "may_use_p99_ms": round(q[98], 3),
    }


@contextmanager
def postgres() -> Iterator[tuple[str, int | None]]:
    """A database URL, and the postmaster's pid when this bench started the server."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url, None
        return
    from tests.support import servers

    srv = servers.PostgresServer(dir=servers.new_tempdir("smsgw-bench-pg-"), durable=True)
    srv.init()
    srv.start()
    try:
        yield (servers.create_database(srv.admin_url, "bench_store"),
               procstat.postmaster_pid(srv.dir / "data"))
    finally:
        srv.stop("immediate")


def main() -> None:
    from tests.support import servers

    catalog = load_catalog()
    results = []
    started = time.perf_counter()
    sqlite_dir = servers.new_tempdir("smsgw-bench-sqlite-")
    results.append(bench_backend("sqlite", f"sqlite:///{sqlite_dir}/bench.db", catalog))
    with postgres() as (url, pid):
        results.append(bench_backend("postgresql", url, catalog, pid))
    for r in results:
        print(f"\n== {r['backend']} ({r['url']})")
        for key, value in r.items():
            if key not in ("backend", "url"):
                print(f"  {key:40} {'-' if value is None else value:>10}")
    print(f"\n(total {time.perf_counter() - started:.0f} s; PostgreSQL runs with its stock "
          "durable settings (fsync, synchronous_commit, full_page_writes on) unless "
          "BENCH_DATABASE_URL is set)")
    RESULTS.mkdir(exist_ok=True)
    out = {"when": datetime.now(UTC).isoformat(), "host": platform.node(),
           "python": platform.python_version(), "results": results}
    (RESULTS / "store.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
