"""The store side of the API on SQLite and PostgreSQL: tokens, agents and the sign-in
audit (revision 0013_api); many statuses at once; the changes feed and its gap rule."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_core.clock import FixedClock
from consent_store import access, api_reads
from consent_store.async_reads import AsyncReads
from consent_store.engine import upgrade
from consent_store.errors import BadRequest, NotFound
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, OTHER, T0, req


def test_tokens_are_stored_hashed_found_by_secret_and_revoked(store: ConsentStore) -> None:
    _, secret = access.create_token(store.engine, "web", ("read", "write"), T0)
    assert secret.startswith("cgw_") and len(secret) > 40
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert stored == access.token_hash(secret) and secret not in stored
    found = access.find_token(store.engine, secret)
    assert found is not None and found.name == "web" and found.scopes == ("read", "write")
    assert access.find_token(store.engine, secret + "x") is None
    assert access.find_token(store.engine, "not-a-token") is None
    with pytest.raises(BadRequest, match="exists"):
        access.create_token(store.engine, "web", ("read",), T0)
    access.revoke_token(store.engine, "web", T0 + timedelta(hours=1))
    assert access.find_token(store.engine, secret) is None
    with pytest.raises(NotFound):
        access.revoke_token(store.engine, "web", T0)
    # The name is free again; the revoked row stays for the audit.
    access.create_token(store.engine, "web", ("read",), T0 + timedelta(hours=2))
    assert [t.revoked_at is None for t in access.list_tokens(store.engine, include_revoked=True)
            ] == [False, True]


@pytest.mark.parametrize("text", ["", "read,sudo", " , "])
def test_scopes_must_be_known(text: str) -> None:
    with pytest.raises(BadRequest):
        access.parse_scopes(text)


def test_agents_and_sign_in_audit(store: ConsentStore) -> None:
    access.add_agent(store.engine, "anna", "$argon2id$fake", T0)
    with pytest.raises(BadRequest):
        access.add_agent(store.engine, "anna", "$argon2id$other", T0)
    with pytest.raises(BadRequest):
        access.add_agent(store.engine, "an na", "$argon2id$other", T0)
    assert access.agent_password_hash(store.engine, "anna") == "$argon2id$fake"
    access.record_sign_in(store.engine, "anna", "refused", False, T0, "127.0.0.1", "ua")
    access.record_sign_in(store.engine, "anna", "signed_in", True, T0, "127.0.0.1", "ua")
    access.disable_agent(store.engine, "anna", T0)
    assert access.agent_password_hash(store.engine, "anna") is None
    assert [e["event"] for e in access.sign_in_log(store.engine, "anna")] == [
        "signed_in", "refused"]


def test_statuses_of_many_pairs_in_one_call(store: ConsentStore, catalog: Catalog) -> None:
    store.apply_batch([req("give", "VIETA"), req("give", "JAUNUMI", msisdn=OTHER),
                       req("withdraw", "JAUNUMI", msisdn=OTHER)], catalog=catalog)
    pairs = [(LMT, "VIETA"), (OTHER, "JAUNUMI"), (LMT, "AUTO")]
    pairs += [(f"3712{i:07d}", "VIETA") for i in range(1200)]  # more than one chunk
    with store.engine.connect() as conn:
        found = api_reads.statuses(conn, pairs)
    assert found[(LMT, "VIETA")][0] == "given"
    assert found[(OTHER, "JAUNUMI")][0] == "withdrawn"
    assert (LMT, "AUTO") not in found and len(found) == 2


@pytest.fixture
def pg_store(postgres_url: str, clock: FixedClock) -> Iterator[ConsentStore]:
    """The ``store`` fixture on PostgreSQL alone: the reads on the event loop exist only
    there (SQLite's stay in a thread)."""
    upgrade(postgres_url)
    s = ConsentStore(postgres_url, clock=clock)
    s.import_subscribers([SubscriberRow(LMT, "lmt"), SubscriberRow(OTHER, "other")])
    yield s
    s.close()


def test_async_reads_answer_as_the_sync_statuses(pg_store: ConsentStore, catalog: Catalog,
                                                postgres_url: str) -> None:
    """may-use on the event loop (consent_store/async_reads.py) reads what the threaded
    path reads: one pair and many, held and not."""
    store, database_url = pg_store, postgres_url
    store.apply_batch([req("give", "VIETA"), req("give", "JAUNUMI", msisdn=OTHER),
                       req("withdraw", "JAUNUMI", msisdn=OTHER)], catalog=catalog)
    pairs = [(LMT, "VIETA"), (OTHER, "JAUNUMI"), (LMT, "AUTO"), (LMT, "VIETA")]
    pairs += [(f"3712{i:07d}", "VIETA") for i in range(1200)]

    async def read() -> list[api_reads.Statuses]:
        reads = AsyncReads(database_url, 2)
        try:
            return [await reads.statuses(pairs), await reads.statuses([(LMT, "VIETA")]),
                    await reads.statuses([(LMT, "AUTO")]), await reads.statuses([])]
        finally:
            await reads.close()

    many, one, missing, empty = asyncio.run(read())
    with store.engine.connect() as conn:
        assert many == api_reads.statuses(conn, pairs) and len(many) == 2
        assert one == api_reads.statuses(conn, [(LMT, "VIETA")]) and one[(LMT, "VIETA")][0] == "given"
    assert missing == {} and empty == {}


def test_feed_lists_state_changes_in_ledger_order(store: ConsentStore, catalog: Catalog) -> None:
    store.apply_batch([req("give", "VIETA"), req("give", "VIETA"), req("give", "VIETA",
                       msisdn=OTHER), req("withdraw", "VIETA")], catalog=catalog)
    with store.engine.connect() as conn:
        page = api_reads.changes_after(conn, 0, 100)
        assert [(c["msisdn"], c["outcome"]) for c in page.changes] == [
            (LMT, "given"), (LMT, "withdrawn")]  # already_given and the refusal: not listed
        assert page.next == 4  # but the cursor passed them
        assert api_reads.changes_after(conn, page.next, 100).changes == []
        assert api_reads.changes_after(conn, 0, 1).next == 1
        assert api_reads.latest_position(conn) == 4


def test_the_pairs_travel_as_two_lists_and_a_comma_is_refused() -> None:
    assert api_reads.pg_params([(LMT, "AUTO"), (OTHER, "VIETA")]) == (f"{LMT},{OTHER}",
                                                                       "AUTO,VIETA")
    with pytest.raises(ValueError, match="comma"):
        api_reads.pg_params([(f"{LMT},{OTHER}", "AUTO"), (OTHER, "VIETA")])
