"""``make bench`` (reads): the downstream question "may we use consent X of number N now?"
against PostgreSQL with a million numbers loaded, and through the cached reader.

Starts a private PostgreSQL (or uses BENCH_DATABASE_URL), loads 1,000,000 subscribers and
2,000,000 consent states with one SQL statement each, then measures ``ConsentStore.may_use``
latency (one connection, random numbers) and ``ConsentReader`` lookups per second.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from consent_store.engine import upgrade
from consent_store.reader import ConsentReader
from consent_store.store import ConsentStore
from tests.support.servers import PostgresServer, create_database, new_tempdir, wait_port

NUMBERS = int(os.environ.get("BENCH_READ_NUMBERS", "1000000"))
RESULTS = Path(__file__).resolve().parent / "results"


def number(i: int) -> str:
    return f"3712{i:07d}"


def load(url: str, n: int | None = None) -> float:
    """Load ``n`` (default BENCH_READ_NUMBERS) subscribers with two consent states each."""
    n = NUMBERS if n is None else n
    started = time.perf_counter()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO subscribers (msisdn, client_group, independent, updated_at) "
            "SELECT '3712' || lpad(i::text, 7, '0'), "
            "CASE WHEN i % 5 = 0 THEN 'other' ELSE 'lmt' END, true, now() "
            "FROM generate_series(0, :n - 1) AS i"), {"n": n})
        conn.execute(sa.text(
            "INSERT INTO consent_state (msisdn, consent, status, since, channel) "
            "SELECT '3712' || lpad(i::text, 7, '0'), c, "
            "CASE WHEN (i + length(c)) % 3 = 0 THEN 'given' ELSE 'withdrawn' END, now(), 'sms' "
            "FROM generate_series(0, :n - 1) AS i, unnest(ARRAY['JAUNUMI', 'VIETA']) AS c"),
            {"n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(url: str) -> dict[str, Any]:
    store = ConsentStore(url)
    rng = random.Random(7)
    for _ in range(2000):  # warm the pool, the plan cache and the OS cache a little
        store.may_use(number(rng.randrange(NUMBERS)), "VIETA")
    lat = []
    for _ in range(20000):
        n = number(rng.randrange(NUMBERS))
        t = time.perf_counter()
        store.may_use(n, "VIETA")
        lat.append((time.perf_counter() - t) * 1000)
    reader = ConsentReader(store, ttl=300.0)
    hot = [number(rng.randrange(NUMBERS)) for _ in range(100_000)]
    t = time.perf_counter()
    for n in hot:
        reader.may_use(n, "JAUNUMI")
    fill_per_s = len(hot) / (time.perf_counter() - t)
    lookups = 1_000_000
    picks = [hot[rng.randrange(len(hot))] for _ in range(lookups)]
    t = time.perf_counter()
    for n in picks:
        reader.may_use(n, "JAUNUMI")
    cached_per_s = lookups / (time.perf_counter() - t)
    store.close()
    return {
        "numbers_loaded": NUMBERS, "consent_states_loaded": 2 * NUMBERS,
        "may_use_p50_ms": round(statistics.median(lat), 3),
        "may_use_p99_ms": round(percentile(lat, 99), 3),
        "may_use_max_ms": round(max(lat), 3),
        "reader_cache_fill_per_s": round(fill_per_s),
        "reader_cached_lookups_per_s": round(cached_per_s),
        "reader_hits": reader.hits, "reader_misses": reader.misses,
    }


def main() -> int:
    pg: PostgresServer | None = None
    admin = os.environ.get("BENCH_DATABASE_URL")
    try:
        if not admin:
            pg = PostgresServer(dir=new_tempdir("smsgw-bench-reads-"), durable=True)
            pg.init()
            pg.start()
            wait_port(pg.port)
            admin = pg.admin_url
        url = create_database(admin, f"bench_reads_{int(time.time())}")
        upgrade(url)
        seconds = load(url)
        print(f"== loaded {NUMBERS:,} numbers and {2 * NUMBERS:,} consent states in {seconds:.0f} s")
        result = measure(url)
    finally:
        if pg is not None:
            pg.stop("immediate")
            shutil.rmtree(pg.dir, ignore_errors=True)
    report("reads", result)
    return 0


def report(name: str, result: dict[str, Any]) -> None:
    """Print the figures and keep them in bench/results/NAME.json."""
    for k, v in result.items():
        print(f"  {k:32} {v}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
