"""The store writes a consent's description text once (``ConsentStore._stored_digests``):
a batch citing a description an earlier committed batch wrote needs no statement for it,
and what the subscriber was told is still in their export. A batch that did not commit
leaves nothing remembered, so the next one writes the text."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from consent_core.catalog import Catalog
from consent_store.engine import upgrade
from consent_store.errors import StoreUnavailable
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, req


def _statements(store: ConsentStore) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def _description_writes(statements: list[str]) -> int:
    return sum(1 for s in statements
               if s.lstrip().upper().startswith("INSERT INTO CONSENT_DESCRIPTIONS"))


def test_a_description_is_written_once_and_still_exported(
        store: ConsentStore, catalog: Catalog) -> None:
    seen = _statements(store)
    store.apply_batch([req("give", "SADARBIBA")], catalog=catalog)
    assert _description_writes(seen) == 1
    seen.clear()
    store.apply_batch([req("withdraw", "SADARBIBA"), req("give", "SADARBIBA")], catalog=catalog)
    assert _description_writes(seen) == 0
    told = store.export(LMT)["receipts"]["SADARBIBA"]
    assert told["description"] == catalog.consents["SADARBIBA"].description["lv"]


def test_a_batch_that_did_not_commit_leaves_its_descriptions_unremembered(
        postgres_url: str, catalog: Catalog) -> None:
    """The database refuses the batch's ledger row (a trigger stands in for any refusal):
    the transaction that had written the description is rolled back, and the next batch
    must write it again."""
    upgrade(postgres_url)
    store = ConsentStore(postgres_url)
    try:
        store.import_subscribers([SubscriberRow(LMT, "lmt")])
        with store.engine.begin() as conn:
            conn.execute(text(
                "CREATE FUNCTION refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN IF NEW.note = 'refuse' THEN RAISE EXCEPTION 'refused for the test'; "
                "END IF; RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER refuse_marked BEFORE INSERT ON consent_events "
                              "FOR EACH ROW EXECUTE FUNCTION refuse_marked()"))
        with pytest.raises(StoreUnavailable, match="refused for the test"):
            store.apply_batch([req("give", "JAUNUMI", note="refuse")], catalog=catalog)
        seen = _statements(store)
        store.apply_batch([req("give", "JAUNUMI")], catalog=catalog)
        assert _description_writes(seen) == 1
        told = store.export(LMT)["receipts"]["JAUNUMI"]
        assert told["description"] == catalog.consents["JAUNUMI"].description["lv"]
    finally:
        store.close()
