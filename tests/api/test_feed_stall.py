"""The changes feed never skips a change whose transaction commits late (issue: on
PostgreSQL with two shards, a transaction that held its fresh ledger row for seconds while
the other shard committed was passed over for ever by consumers of /v1/changes)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_core.changes import ReceiptUpdate
from consent_core.clock import FixedClock
from consent_store import access
from consent_store.engine import upgrade
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from tests.api.conftest import LMT, OTHER
from tests.support.api import start_api
from tests.support.pipeline import Pipeline, wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

# The store's clock stands a year before the API's "now": any grace an old feed gave a
# gap (seconds) is long past when the consumer looks.
T = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def _text(event_id: str, msisdn: str, action: str, consent: str) -> ChangeRequest:
    return ChangeRequest(event_id=event_id, msisdn=msisdn, action=action, consent=consent,
                         channel="sms", received_at=T,
                         text=consent if action == "give" else f"{consent} STOP")


def _follow(c: httpx.Client, cursor: str, seen: list[dict[str, Any]]) -> str:
    """Read /v1/changes from ``cursor`` until a page comes back empty; the new cursor."""
    while True:
        page = c.get("/v1/changes", params={"after": cursor}).json()
        seen.extend(page["changes"])
        if not page["changes"] and page["next"] == cursor:
            return cursor
        cursor = page["next"]


def test_a_commit_held_past_any_grace_while_another_shard_commits_is_still_listed(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    # Only the API runs as a process here (the consumer's side); the two shards' batches
    # are the store calls a worker makes, so the test can hold one of them mid-transaction.
    upgrade(postgres_url)
    catalog = load_catalog()
    store = ConsentStore(postgres_url, clock=FixedClock(T))
    store.import_subscribers([(LMT, "lmt", True), (OTHER, "other", True)])
    _, secret = access.create_token(store.engine, "feed", ("read",), T)
    pipeline = Pipeline(tmp_path, 2775, redis_url, postgres_url,  # no SMSC: API only
                        {"api": {"host": "127.0.0.1", "port": free_port()}})
    api = start_api(pipeline)
    # A reply sent earlier, whose delivery receipt the stalled transaction will record.
    store.apply(_text("seed", LMT, "give", "AUTO"), catalog=catalog)
    store.record_submit("seed", "m-1", "ok", T)
    seen: list[dict[str, Any]] = []
    with api.client(secret) as c:
        cursor = _follow(c, "0", seen)
        assert [x["event_id"] for x in seen] == ["seed"]

        # The test holds the reply's row, so shard 0's batch (a withdrawal and that
        # reply's receipt, as a worker applies them) waits inside its transaction.
        blocker = store.engine.connect()
        held = blocker.begin()
        blocker.execute(sa.text("SELECT 1 FROM replies WHERE message_id = 'm-1' FOR UPDATE"))
        shard0 = threading.Thread(target=store.apply_batch, args=(
            [_text("late", LMT, "withdraw", "AUTO")],), kwargs={
            "catalog": catalog, "receipts": [ReceiptUpdate("m-1", "DELIVRD", T, msisdn=LMT)]})
        shard0.start()
        try:
            assert wait_until(lambda: _lock_waits(store) >= 1, 30), "shard 0 is not waiting"
            # Shard 1 commits meanwhile, and the consumer reads it.
            store.apply(_text("prompt", OTHER, "give", "JAUNUMI"), catalog=catalog)
            cursor = _follow(c, cursor, seen)
            assert "prompt" in [x["event_id"] for x in seen]
        finally:
            held.rollback()
            blocker.close()
            shard0.join(30)
        _follow(c, cursor, seen)
    pipeline.stop()
    store.close()
    assert sorted(x["event_id"] for x in seen) == ["late", "prompt", "seed"]
    positions = [x["position"] for x in seen]
    assert positions == sorted(positions)


def _lock_waits(store: ConsentStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())
