"""Token checks are cached per API process, and a revocation is honoured within
``api.token_cache_ttl`` seconds (time from an injected monotonic clock, no waiting)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from consent_api.services import TokenCache
from consent_store import access
from consent_store.engine import upgrade
from consent_store.store import ConsentStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ConsentStore]:
    upgrade(sqlite_url)
    s = ConsentStore(sqlite_url)
    yield s
    s.close()


def test_a_revoked_token_stops_working_once_its_cache_entry_is_older_than_the_ttl(
        store: ConsentStore) -> None:
    seconds = [100.0]
    cache = TokenCache(store, ttl=5.0, monotonic=lambda: seconds[0])
    _, secret = access.create_token(store.engine, "crm", ("read",), T0)
    found = cache.find(secret)
    assert found is not None and found.name == "crm"
    access.revoke_token(store.engine, "crm", T0)
    seconds[0] += 4.9
    assert cache.find(secret) is not None  # served from the cache: no database read
    seconds[0] += 0.2
    assert cache.find(secret) is None
    assert cache.find("cgw_not-a-token") is None


def test_the_event_loop_lookup_holds_only_fresh_entries_and_never_reads_the_database(
        store: ConsentStore) -> None:
    """``cached`` is what the API calls on its event loop: a hit within the TTL, and once
    the entry is older the caller must go to ``find``, which reads the revocation."""
    seconds = [100.0]
    cache = TokenCache(store, ttl=2.0, monotonic=lambda: seconds[0])
    _, secret = access.create_token(store.engine, "crm", ("read",), T0)
    assert cache.cached(secret) == (False, None)  # never looked up: not held
    assert cache.find(secret) is not None
    held, token = cache.cached(secret)
    assert held and token is not None and token.name == "crm"
    access.revoke_token(store.engine, "crm", T0)
    seconds[0] += 1.9
    assert cache.cached(secret)[0]  # still within the TTL
    seconds[0] += 0.2
    assert cache.cached(secret) == (False, None)  # expired: the database decides
    assert cache.find(secret) is None
    held, token = cache.cached(secret)
    assert held and token is None  # the refusal is cached too, for the same TTL

    # An unknown secret is refused and that refusal is held like any other lookup.
    assert cache.find("cgw_never-issued") is None
    assert cache.cached("cgw_never-issued") == (True, None)
