"""The cached reader answers like the store, within its TTL, with bounded memory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from consent_core.catalog import load_catalog
from consent_store.engine import upgrade
from consent_store.reader import ConsentReader
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore


def change(msisdn: str, action: str, consent: str) -> ChangeRequest:
    return ChangeRequest(event_id=uuid.uuid4().hex, msisdn=msisdn, action=action,
                         consent=consent, channel="web", received_at=datetime.now(UTC))


def test_reader_agrees_with_the_store_and_sees_changes_after_its_ttl(database_url: str) -> None:
    upgrade(database_url)
    store = ConsentStore(database_url)
    catalog = load_catalog()
    store.import_subscribers([("37129000001", "lmt", True)])
    now = [100.0]
    reader = ConsentReader(store, ttl=5.0, clock=lambda: now[0])
    store.apply(change("37129000001", "give", "VIETA"), catalog=catalog)
    assert reader.may_use("37129000001", "VIETA") is True
    assert reader.may_use("37129000001", "AUTO") is False
    assert reader.may_use("37129000009", "VIETA") is False  # unknown number: nothing given

    store.apply(change("37129000001", "withdraw", "VIETA"), catalog=catalog)
    assert reader.may_use("37129000001", "VIETA") is True  # cached, within the TTL
    now[0] += 5.0
    assert reader.may_use("37129000001", "VIETA") is False
    assert store.may_use("37129000001", "VIETA") is False
    assert reader.hits == 2 and reader.misses == 3
    store.close()


def test_reader_keeps_at_most_max_numbers(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    store = ConsentStore(sqlite_url)
    reader = ConsentReader(store, max_numbers=3)
    for i in range(10):
        reader.may_use(f"3712900000{i}", "JAUNUMI")
    assert len(reader._cache) == 3
    store.close()
