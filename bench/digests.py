"""Ledger checkpoints at scale: publishing and ``consentctl verify --digests`` over a
ledger of a million rows (docs/store.md, "Merkle log and checkpoints").

    python -m bench.digests        (make bench-digests; BENCH_DIGEST_ROWS=1000000)

Builds the ledger directly (rows sealed into their numbers' chains with
``consent_store.chain`` and placed by ``consent_store.feed``, as the store writes them,
without the decision path: 200,000 numbers, five rows each), on an SQLite file and a
throwaway PostgreSQL (fsync off; or ``BENCH_DATABASE_URL``). Then times: the first
checkpoint over every row, a checkpoint over 1,000 more (what the worker's thread pays
per text), and the two checks ``verify --digests`` runs: the checkpoints against the
ledger, and the hash chains recomputed. Prints the figures and writes
``bench/results/digests.json``.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from bench.store import RESULTS, postgres
from consent_store import chain, digests, feed
from consent_store.dialect import upsert_many
from consent_store.engine import WRITE, upgrade
from consent_store.errors import safe_url
from consent_store.ledger import EVENT_FIELDS
from consent_store.schema import ledger_heads
from consent_store.store import ConsentStore

ROWS = int(os.environ.get("BENCH_DIGEST_ROWS", "1000000"))
PER_NUMBER = 5
CHUNK = 10_000
CONSENTS = ("JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA")


def fill(store: ConsentStore, start: int, count: int, heads: dict[str, chain.Head]) -> None:
    """Append ``count`` sealed rows, numbered from ``start``."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for base in range(start, start + count, CHUNK):
        rows = []
        for i in range(base, min(base + CHUNK, start + count)):
            msisdn = f"3712{i // PER_NUMBER:07d}"
            at = t0 + timedelta(milliseconds=i)
            row = dict.fromkeys(EVENT_FIELDS) | {
                "event_id": f"bench-{i}", "msisdn": msisdn, "consent": CONSENTS[i % 5],
                "action": "give", "outcome": "given", "channel": "sms", "received_at": at,
                "applied_at": at, "text": CONSENTS[i % 5]}
            head = heads.get(msisdn)
            if head is None:
                head = heads[msisdn] = chain.Head(msisdn, chain.new_chain_id(), 0, chain.GENESIS)
            chain.seal(row, head)
            rows.append(row)

        def work(conn: Connection, rows: list[dict[str, Any]] = rows) -> None:
            feed.insert_ledger(conn, rows)

        with store.engine.execution_options(**WRITE).begin() as conn:
            work(conn)
    with store.engine.execution_options(**WRITE).begin() as conn:
        dirty = [{"msisdn": h.key, "chain_id": h.chain_id, "seq": h.seq, "hash": h.hash}
                 for h in heads.values() if h.dirty]
        for k in range(0, len(dirty), CHUNK):
            upsert_many(conn, ledger_heads, dirty[k:k + CHUNK], ["msisdn"])
        for h in heads.values():
            h.dirty = False


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def bench_backend(name: str, url: str) -> dict[str, Any]:
    upgrade(url)
    store = ConsentStore(url)
    heads: dict[str, chain.Head] = {}
    _, fill_s, _ = timed(lambda: fill(store, 0, ROWS, heads))
    with tempfile.TemporaryDirectory(prefix="smsgw-bench-digests-") as tmp:
        directory, keyfile = Path(tmp) / "digests", Path(tmp) / "signing.key"
        digests.generate_key(keyfile)
        key = digests.load_private_key(keyfile)
        public = digests.public_keys([Path(f"{keyfile}.pub")])
        first, first_s, first_cpu = timed(lambda: store.publish_checkpoint(directory, key))
        fill(store, ROWS, 1000, heads)
        _, inc_s, inc_cpu = timed(lambda: store.publish_checkpoint(directory, key))
        report, digest_s, digest_cpu = timed(lambda: store.verify_digests(directory, public))
        chains, chain_s, chain_cpu = timed(store.verify)
        size = sum(p.stat().st_size for p in directory.iterdir())
    store.close()
    assert first.checkpoint.tree_size == ROWS and report.intact and chains.intact
    return {
        "backend": name, "url": safe_url(url), "rows": ROWS + 1000,
        "build_s": round(fill_s, 1),
        "first_checkpoint_s": round(first_s, 2), "first_checkpoint_cpu_s": round(first_cpu, 2),
        "checkpoint_of_1000_more_ms": round(inc_s * 1000, 1),
        "checkpoint_cpu_us_per_row": round(inc_cpu * 1e6 / 1000, 1),
        "verify_digests_s": round(digest_s, 1), "verify_digests_cpu_s": round(digest_cpu, 1),
        "verify_chains_s": round(chain_s, 1), "verify_chains_cpu_s": round(chain_cpu, 1),
        "verify_total_s": round(digest_s + chain_s, 1),
        "digest_dir_bytes": size,
    }


def main() -> None:
    from tests.support import servers

    results = []
    sqlite_dir = servers.new_tempdir("smsgw-bench-sqlite-")
    results.append(bench_backend("sqlite", f"sqlite:///{sqlite_dir}/bench.db"))
    with postgres() as (url, _):
        results.append(bench_backend("postgresql", url))
    for r in results:
        print(f"\n== {r['backend']} ({r['url']})")
        for k, v in r.items():
            if k not in ("backend", "url"):
                print(f"  {k:32} {v:>12}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "digests.json").write_text(json.dumps(
        {"when": datetime.now(UTC).isoformat(), "host": platform.node(),
         "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
