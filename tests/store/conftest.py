"""Fixtures for store tests: a migrated database (SQLite and PostgreSQL), a store, the catalog."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_core.catalog import Catalog, load_catalog
from consent_core.clock import FixedClock
from consent_store.engine import upgrade
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow

LMT = "37129123456"
OTHER = "37129000001"
MINOR = "37129000002"
# Histories are built from T0; the store's clock stands at NOW, after every instant the
# tests record (req() without ``at`` counts seconds up from T0). No test reads the machine's
# clock: a test that needs another "now" moves the ``clock`` fixture.
T0 = datetime(2025, 11, 24, 20, 1, 2, tzinfo=UTC)
NOW = T0 + timedelta(days=30)

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def store(database_url: str, clock: FixedClock) -> Iterator[ConsentStore]:
    upgrade(database_url)
    s = ConsentStore(database_url, clock=clock)
    s.import_subscribers([SubscriberRow(LMT, "lmt"), SubscriberRow(OTHER, "other"),
                          SubscriberRow(MINOR, "lmt", independent=False)])
    yield s
    s.close()


def req(action: str, consent: str | None, *, msisdn: str = LMT, seq: int | None = None,
        at: datetime | None = None, channel: str = "sms", event_id: str | None = None,
        text: str | None = None, **extra: Any) -> ChangeRequest:
    n = next(_ids)
    if text is None:
        text = "?" if consent is None else (consent if action == "give" else f"{consent} STOP")
    return ChangeRequest(
        event_id=event_id or f"ev-{n}", msisdn=msisdn, action=action, consent=consent,
        channel=channel, received_at=at or T0 + timedelta(seconds=n), ingest_seq=seq,
        text=text, **extra)
