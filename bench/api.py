"""``make bench`` (API): may-use over HTTP at a fixed rate, the 1,000-query bulk call, and
changes through the API per second, against ``consent-api run`` with a real worker,
Redis and PostgreSQL holding a million numbers (BENCH_API_NUMBERS).

Targets (issue 13): may-use p99 ≤ 5 ms at 1,000 requests/s; a 1,000-query bulk call
≤ 50 ms. The load generator runs on the same host and competes for its cores, so the
figures are an upper bound of what the API itself costs.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.reads import load, number, percentile, report
from tests.support.api import Api, start_api
from tests.support.pipeline import Pipeline
from tests.support.servers import (
    PostgresServer,
    RedisServer,
    create_database,
    free_port,
    new_tempdir,
)

NUMBERS = int(os.environ.get("BENCH_API_NUMBERS", "1000000"))
RATE = float(os.environ.get("BENCH_API_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "10"))
API_WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
THREADS = 32


def may_use_at_rate(base: str, token: str) -> dict[str, Any]:
    """Open loop: each thread sends on its own schedule; latency is send to answer."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    interval = THREADS / RATE
    ready, go = threading.Barrier(THREADS + 1), threading.Barrier(THREADS + 1)
    window: list[float] = []

    def run(seed: int) -> None:
        rnd = random.Random(seed)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=10) as c:
            ready.wait()  # every client made before the clock starts
            go.wait()
            deadline = window[0]
            next_at = time.monotonic() + rnd.random() * interval
            mine: list[float] = []
            while next_at < deadline:
                time.sleep(max(0.0, next_at - time.monotonic()))
                started = time.perf_counter()
                r = c.get("/v1/may-use", params={"msisdn": number(rnd.randrange(NUMBERS)),
                                                 "consent": "VIETA"})
                mine.append(time.perf_counter() - started)
                if r.status_code != 200:
                    with lock:
                        errors[0] += 1
                next_at += interval
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    ready.wait()
    window.append(time.monotonic() + SECONDS)
    started = time.monotonic()
    go.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ms = [v * 1000 for v in latencies] or [float("nan")]
    return {"may_use_target_rps": RATE, "may_use_achieved_rps": round(len(ms) / elapsed, 1),
            "may_use_p50_ms": round(percentile(ms, 50), 2),
            "may_use_p99_ms": round(percentile(ms, 99), 2), "may_use_errors": errors[0]}


def bulk(base: str, token: str, calls: int = 30) -> dict[str, Any]:
    rnd = random.Random(7)
    ms = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        for _ in range(calls):
            queries = [{"msisdn": number(rnd.randrange(NUMBERS)), "consent": "JAUNUMI"}
                       for _ in range(1000)]
            started = time.perf_counter()
            r = c.post("/v1/may-use", json={"queries": queries})
            ms.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
    return {"bulk_1000_p50_ms": round(percentile(ms, 50), 1),
            "bulk_1000_p99_ms": round(percentile(ms, 99), 1)}


def changes_per_second(base: str, token: str, clients: int = 16) -> dict[str, Any]:
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def run(k: int) -> None:
        i = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:
            while time.monotonic() < deadline:
                n = number((k * 7919 + i) % NUMBERS)
                action = "give" if i % 2 == 0 else "withdraw"
                r = c.post(f"/v1/numbers/{n}/consents/AUTO", json={"action": action,
                           "channel": "web"}, headers={"Idempotency-Key": f"b-{k}-{i}"})
                if r.status_code == 200:
                    with lock:
                        done[0] += 1
                i += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"api_changes_per_s": round(done[0] / (time.monotonic() - started), 1),
            "api_change_clients": clients}


@contextmanager
def api_stack(name: str, numbers: int, sections: dict[str, dict[str, Any]]
              ) -> Iterator[tuple[Pipeline, Api]]:
    """A private PostgreSQL (``numbers`` loaded) and Redis, one worker and ``consent-api
    run`` with ``sections`` in its configuration; everything stopped and removed after."""
    work = new_tempdir(f"smsgw-bench-{name}-")
    pg = PostgresServer(dir=new_tempdir(f"smsgw-bench-{name}-pg-"), durable=True)
    rs = RedisServer(dir=new_tempdir(f"smsgw-bench-{name}-redis-"))
    p: Pipeline | None = None
    try:
        pg.init()
        pg.start()
        rs.start()
        url = create_database(pg.admin_url, f"bench_{name}")
        p = Pipeline(work, free_port(), rs.url, url, {  # no SMSC: the API alone
            "database": {"pool_size": 20}, "log": {"level": "warning"}, **sections})
        p.ctl("db", "upgrade")
        print(f"== loaded {numbers:,} numbers in {load(url, numbers):.0f} s")
        p.worker()
        yield p, start_api(p)
    finally:
        if p is not None:
            p.stop()
        rs.stop()
        pg.stop("immediate")
        for d in (pg.dir, rs.dir, work):
            shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    result: dict[str, Any] = {"numbers": NUMBERS, "api_workers": API_WORKERS,
                              "seconds": SECONDS}
    with api_stack("api", NUMBERS, {"api": {"port": free_port(), "workers": API_WORKERS,
                                            "rate_per_second": 0}}) as (_, api):
        token = api.token("bench", "read,write")
        result |= may_use_at_rate(api.base, token)
        result |= bulk(api.base, token)
        result |= changes_per_second(api.base, token)
    report("api", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
