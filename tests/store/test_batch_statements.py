"""What a batch costs the database in statements (issue 27: a batch's fixed cost).

On PostgreSQL a batch's last writes — the changed state rows, the chain heads, the ledger
rows with their feed positions, and the replies — are one statement
(``feed.insert_ledger``), and every row still lands where the plain statements put it.
On SQLite (one writer, in-process) they stay statements of their own."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import event, text

from consent_core.catalog import Catalog
from consent_store.engine import upgrade
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, OTHER, req

WRITTEN = ("consent_state", "ledger_heads", "consent_events", "replies")


def _writes(statements: list[str]) -> Counter[str]:
    """How many statements write each of the batch's tables."""
    out: Counter[str] = Counter()
    for s in statements:
        flat = " ".join(s.split()).lower()
        for table in WRITTEN:
            if f"insert into {table} " in flat or f"update {table} " in flat:
                out[table] += 1
    return out


def _watch(store: ConsentStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def test_postgresql_writes_a_batch_in_one_statement_and_every_row_lands(
        postgres_url: str, catalog: Catalog) -> None:
    upgrade(postgres_url)
    store = ConsentStore(postgres_url)
    try:
        store.import_subscribers([SubscriberRow(LMT, "lmt"), SubscriberRow(OTHER, "other")])
        # The state rows and chains exist after this one (a first text makes them first).
        store.apply_batch([req("give", "VIETA"), req("give", "METADATI"),
                           req("give", "JAUNUMI", msisdn=OTHER)], catalog=catalog)
        seen = _watch(store)
        done = store.apply_batch([req("withdraw", "VIETA"), req("withdraw", "METADATI"),
                                  req("withdraw", "JAUNUMI", msisdn=OTHER)], catalog=catalog)
        assert [c.outcome.value for c in done] == ["withdrawn"] * 3
        writes = [s for s in seen if any(n in _writes([s]) for n in WRITTEN)]
        assert len(writes) == 1, writes  # states, heads, ledger and replies together
        assert set(_writes(writes)) == set(WRITTEN)
        with store.engine.connect() as conn:
            events = conn.execute(text(
                "select e.event_id, e.position, r.text is not null as replied "
                "from consent_events e left join replies r using (event_id) "
                "order by e.position")).all()
            states = dict(conn.execute(text(
                "select msisdn || ' ' || consent, status from consent_state "
                "where status <> 'none'")).all())
            heads = dict(conn.execute(text("select msisdn, seq from ledger_heads")).all())
        assert [e.position for e in events] == list(range(1, 7))  # contiguous, in order
        assert all(e.replied for e in events)
        assert states == {f"{LMT} VIETA": "withdrawn", f"{LMT} METADATI": "withdrawn",
                          f"{OTHER} JAUNUMI": "withdrawn"}
        assert heads == {LMT: 4, OTHER: 2}
        report = store.verify()
        assert report.intact and report.rows == 6, report
    finally:
        store.close()


def test_a_batch_of_replays_only_writes_nothing(store: ConsentStore, catalog: Catalog) -> None:
    first = req("give", "VIETA", event_id="ev-once")
    store.apply_batch([first], catalog=catalog)
    seen = _watch(store)
    again = store.apply_batch([first], catalog=catalog)
    assert again[0].replayed
    assert not _writes(seen), seen
