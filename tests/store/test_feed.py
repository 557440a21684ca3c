"""Feed positions (consent_store/feed.py): every ledger write takes contiguous positions in
commit order, so a reader never sees a position before a smaller one has committed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_store import api_reads
from consent_store.engine import WRITE
from consent_store.ledger import apply_in_transaction
from consent_store.schema import consent_events
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, NOW, OTHER, T0, req
from tests.support.pipeline import wait_until


def _positions(store: ConsentStore) -> list[tuple[int, str]]:
    with store.engine.connect() as conn:
        return [(int(r.position), r.event_id) for r in conn.execute(
            sa.select(consent_events.c.position, consent_events.c.event_id)
            .order_by(consent_events.c.position))]


def test_every_kind_of_ledger_write_takes_the_next_positions(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply_batch([req("give", "JAUNUMI"), req("give", "VIETA"),
                       req("give", "JAUNUMI", msisdn=OTHER)], catalog=catalog)
    store.lapse(NOW, timedelta(days=1))                        # both JAUNUMI lapse
    store.reset(LMT, "number reassigned")                      # VIETA withdrawn by reset
    store.erase(OTHER, "Art. 17 request")
    store.apply_batch([req("give", "AUTO")], catalog=catalog)
    found = _positions(store)
    assert [p for p, _ in found] == list(range(1, 9))
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(consent_events.c.event_id)
                           .order_by(consent_events.c.id)).scalars().all()
        assert [e for _, e in found] == ids  # one writer at a time here: id order too
        assert conn.execute(sa.text("SELECT last_position FROM ledger_feed")).scalar_one() == 8
        assert api_reads.latest_position(conn) == 8


def test_a_rolled_back_transaction_leaves_no_gap(store: ConsentStore, catalog: Catalog) -> None:
    store.apply(req("give", "VIETA"), catalog=catalog)
    with pytest.raises(RuntimeError), store.engine.execution_options(**WRITE).begin() as conn:
        apply_in_transaction(conn, [req("give", "AUTO")], catalog=catalog, lang="lv", now=NOW)
        raise RuntimeError("rolled back after taking its position")
    store.apply(req("give", "METADATI"), catalog=catalog)
    assert [p for p, _ in _positions(store)] == [1, 2]


def test_a_transaction_holding_its_positions_holds_back_every_later_one(
        postgres_url: str, catalog: Catalog) -> None:
    """The way the old feed failed (issue: the feed skipped a change for ever when its
    transaction committed late): one transaction has written its ledger rows and stalls
    before commit while another shard's transaction comes along. The later one waits for
    the feed's lock, so no reader sees a position above one that may still commit."""
    from consent_store.engine import upgrade

    upgrade(postgres_url)
    store = ConsentStore(postgres_url)
    store.apply(req("give", "JAUNUMI", msisdn=OTHER), catalog=catalog)   # position 1
    stalled = store.engine.execution_options(**WRITE).connect()
    tx = stalled.begin()
    apply_in_transaction(stalled, [req("withdraw", "JAUNUMI", msisdn=OTHER)],
                         catalog=catalog, lang="lv", now=T0)            # takes position 2
    other_shard: dict[str, object] = {}

    def write() -> None:
        other_shard["done"] = store.apply(req("give", "JAUNUMI"), catalog=catalog)

    t = threading.Thread(target=write)
    t.start()
    try:
        # The other shard's transaction is waiting on a lock (the feed's), not committed.
        assert wait_until(lambda: _lock_waits(store) >= 1, 30), "no writer is waiting"
        with store.engine.connect() as conn:
            page = api_reads.changes_after(conn, 1, 100)
        assert page.changes == [] and page.next == 1 and "done" not in other_shard
    finally:
        tx.commit()
        stalled.close()
        t.join(30)
    with store.engine.connect() as conn:
        page = api_reads.changes_after(conn, 1, 100)
    assert [(c["position"], c["msisdn"], c["outcome"]) for c in page.changes] == [
        (2, OTHER, "withdrawn"), (3, LMT, "given")]
    store.close()


def _lock_waits(store: ConsentStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())
