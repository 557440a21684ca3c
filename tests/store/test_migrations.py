"""Schema only through Alembic: empty database, upgrade from the older revision, drift."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from consent_core.catalog import Catalog
from consent_store.engine import current_revision, head_revision, make_engine, upgrade
from consent_store.errors import SchemaError, StoreUnavailable
from consent_store.schema import metadata
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, T0, req

TABLES = {"subscribers", "consent_events", "consent_state", "replies", "ledger_heads",
          "contacts", "consent_descriptions", "ledger_feed", "webhooks"}


def _indexes(engine: sa.Engine, table: str) -> set[str]:
    return {i["name"] for i in sa.inspect(engine).get_indexes(table)}  # type: ignore[misc]


def test_upgrade_on_empty_database_creates_every_table_at_head(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    assert TABLES <= set(sa.inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision() == "0018_arrival"  # the last revision written
    assert "ix_consent_events_msisdn_consent_id" in _indexes(engine, "consent_events")
    engine.dispose()


def test_upgrade_twice_changes_nothing(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_upgrade_from_initial_revision_keeps_rows_and_adds_indexes(
        database_url: str, catalog: Catalog) -> None:
    upgrade(database_url, "0001_initial")
    engine = make_engine(database_url)
    assert current_revision(engine) == "0001_initial"
    assert "ix_replies_message_id" not in _indexes(engine, "replies")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO consent_events (event_id, msisdn, consent, action, outcome, channel,"
            " received_at, applied_at) VALUES (:e, :m, 'VIETA', 'give', 'given', 'sms', :t, :t)"),
            {"e": "old-1", "m": LMT, "t": T0.replace(tzinfo=None)})
    upgrade(database_url)
    assert current_revision(engine) == head_revision()
    assert "ix_replies_message_id" in _indexes(engine, "replies")
    assert "ix_consent_state_consent_status_last_activity_at" in _indexes(engine, "consent_state")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT event_id FROM consent_events")).scalars().all() \
            == ["old-1"]
    engine.dispose()
    store = ConsentStore(database_url)
    assert store.apply(req("give", "JAUNUMI"), catalog=catalog).outcome == "given"
    assert [e.event_id for e in store.history(LMT)] == ["old-1", store.history(LMT)[1].event_id]
    store.close()


def test_upgrade_from_0002_chains_the_existing_ledger_so_it_verifies(
        database_url: str, catalog: Catalog) -> None:
    upgrade(database_url, "0002_lookup_indexes")
    store = ConsentStore(database_url)
    engine = store.engine
    with engine.begin() as conn:
        for i, (m, action) in enumerate([(LMT, "give"), ("h:" + "ab" * 32, "withdraw"),
                                         (LMT, "withdraw"), ("h:" + "ab" * 32, "erase")]):
            conn.execute(sa.text(
                "INSERT INTO consent_events (event_id, msisdn, consent, action, outcome,"
                " channel, received_at, applied_at, text, smsc) VALUES (:e, :m, 'VIETA', :a,"
                " 'given', 'sms', :t, :t, :x, :j)"),
                {"e": f"old-{i}", "m": m, "a": action, "t": T0.replace(tzinfo=None),
                 "x": "VIETA" if m == LMT else None,
                 "j": '{"ton": 1, "npi": 1}' if m == LMT else None})
    upgrade(database_url)
    report = store.verify()
    assert report.intact, report.first_break
    assert (report.chains, report.rows) == (2, 4)
    # The upgraded chain goes on: a new row links to the old ones and verifies.
    store.apply(req("give", "JAUNUMI"), catalog=catalog)
    assert store.verify(LMT).intact and store.verify(LMT).rows == 3
    store.close()


def test_upgrade_to_feed_positions_keeps_each_rows_id_as_its_position(
        database_url: str, catalog: Catalog) -> None:
    """A consumer's cursor taken before the upgrade (an id) means the same place after it;
    new rows go on from the largest, contiguous."""
    upgrade(database_url, "0014_reply_smsc")
    store = ConsentStore(database_url)
    with store.engine.begin() as conn:  # ids 1 and 5: the others as if rolled back
        for id_, consent in ((1, "VIETA"), (5, "METADATI")):
            conn.execute(sa.text(
                "INSERT INTO consent_events (id, event_id, msisdn, consent, action, outcome,"
                " channel, received_at, applied_at) VALUES (:i, :e, :m, :c, 'give', 'given',"
                " 'sms', :t, :t)"), {"i": id_, "e": f"old-{id_}", "m": LMT, "c": consent,
                                     "t": T0.replace(tzinfo=None)})
    upgrade(database_url)
    store.apply(req("give", "JAUNUMI"), catalog=catalog)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, position, consent FROM consent_events "
                                    "ORDER BY position")).all()
    assert [(r.position, r.consent) for r in rows] == [
        (1, "VIETA"), (5, "METADATI"), (6, "JAUNUMI")]
    assert rows[0].id == 1 and rows[1].id == 5
    store.close()


def test_schema_module_describes_the_head_revision(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(ctx, metadata)
    engine.dispose()
    assert diffs == []


def test_store_on_database_without_schema_says_to_run_db_upgrade(sqlite_url: str) -> None:
    store = ConsentStore(sqlite_url)
    with pytest.raises(SchemaError, match="consentctl db upgrade"):
        store.may_use(LMT, "VIETA")
    store.close()


def test_unreachable_database_error_never_shows_the_password() -> None:
    store = ConsentStore("postgresql+psycopg://gw:s3cr3tpw@127.0.0.1:1/consents")
    with pytest.raises(StoreUnavailable) as info:
        store.may_use(LMT, "VIETA")
    assert "s3cr3tpw" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    with pytest.raises(StoreUnavailable) as info2:
        upgrade("postgresql+psycopg://gw:s3cr3tpw@127.0.0.1:1/consents")
    assert "s3cr3tpw" not in str(info2.value)
    store.close()
