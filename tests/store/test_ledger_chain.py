"""The ledger's hash chain: intact after every kind of write, broken by a changed, removed or
reordered row (named), still verifiable after erasure; the export carries it."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_store import chain
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, NOW, OTHER, req


def _sql(store: ConsentStore, text: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(text), params)


def _busy_number(store: ConsentStore, catalog: Catalog) -> list[str]:
    ids = []
    for r in [req("give", "VIETA"), req("unknown", None, text="sveiki"),
              req("withdraw", "VIETA"), req("give", "JAUNUMI")]:
        ids.append(r.event_id)
        store.apply(r, catalog=catalog)
    return ids


def test_every_kind_of_write_leaves_the_chain_intact(store: ConsentStore,
                                                    catalog: Catalog) -> None:
    _busy_number(store, catalog)
    store.apply_batch([req("give", "AUTO"), req("give", "JAUNUMI", msisdn=OTHER),
                       req("unknown", None, msisdn="37129999999")], catalog=catalog)
    store.reset(LMT, "number reassigned")
    store.erase(OTHER, "asked to")
    report = store.verify()
    assert report.intact, report.first_break
    assert report.rows == 7 + 2 + 1  # LMT 5 and 2 reset rows, OTHER 2, the third 1
    one = store.verify(LMT)
    assert one.intact and one.chains == 1 and one.rows == 7


def test_changed_row_is_found_and_named(store: ConsentStore, catalog: Catalog) -> None:
    ids = _busy_number(store, catalog)
    _sql(store, "UPDATE consent_events SET outcome = 'given' WHERE event_id = :e", e=ids[2])
    report = store.verify(LMT)
    assert not report.intact
    assert report.first_break is not None and report.first_break.event_id == ids[2]
    assert "changed" in report.first_break.problem


def test_changed_text_is_found(store: ConsentStore, catalog: Catalog) -> None:
    ids = _busy_number(store, catalog)
    _sql(store, "UPDATE consent_events SET text = 'VIETA' WHERE event_id = :e", e=ids[1])
    found = store.verify(LMT).first_break
    assert found is not None and found.event_id == ids[1]


def test_removed_row_is_found(store: ConsentStore, catalog: Catalog) -> None:
    ids = _busy_number(store, catalog)
    _sql(store, "DELETE FROM consent_events WHERE event_id = :e", e=ids[1])
    found = store.verify(LMT).first_break
    assert found is not None and found.event_id == ids[2]
    assert "missing" in found.problem


def test_removed_last_row_is_found_through_the_head(store: ConsentStore,
                                                   catalog: Catalog) -> None:
    ids = _busy_number(store, catalog)
    _sql(store, "DELETE FROM consent_events WHERE event_id = :e", e=ids[-1])
    found = store.verify(LMT).first_break
    assert found is not None and found.event_id == ids[-2] and "removed" in found.problem


def test_reordered_rows_are_found(store: ConsentStore, catalog: Catalog) -> None:
    ids = _busy_number(store, catalog)
    # Swap two rows' places in the chain (what an editor reordering history would do).
    _sql(store, "UPDATE consent_events SET chain_seq = -1 WHERE event_id = :e", e=ids[1])
    _sql(store, "UPDATE consent_events SET chain_seq = 2 WHERE event_id = :e", e=ids[2])
    _sql(store, "UPDATE consent_events SET chain_seq = 3 WHERE event_id = :e", e=ids[1])
    found = store.verify(LMT).first_break
    assert found is not None and found.event_id == ids[2]


def test_a_row_inserted_by_hand_is_found(store: ConsentStore, catalog: Catalog) -> None:
    _busy_number(store, catalog)
    _sql(store, "INSERT INTO consent_events (event_id, msisdn, consent, action, outcome, "
                "channel, received_at, applied_at, position) VALUES ('forged', :m, 'VIETA', "
                "'give', 'given', 'sms', :t, :t, 1000)", m=LMT, t=NOW.replace(tzinfo=None))
    found = store.verify(LMT).first_break
    assert found is not None and found.event_id == "forged"


def test_erasure_keeps_the_chain_verifiable_and_a_new_one_starts(
        store: ConsentStore, catalog: Catalog) -> None:
    _busy_number(store, catalog)
    store.erase(LMT, "asked to")
    assert store.verify(LMT).intact
    store.apply(req("give", "VIETA"), catalog=catalog)
    report = store.verify(LMT)
    assert report.intact and report.chains == 2
    store.erase(LMT, "asked again")
    assert store.verify(LMT).intact and store.verify().intact
    # Touching an erased row is still found.
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE consent_events SET consent = 'AUTO' "
                             "WHERE consent = 'VIETA' AND action = 'withdraw'"))
    assert not store.verify(LMT).intact


def test_export_carries_chain_values_a_third_party_can_recompute(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(req("give", "VIETA"), catalog=catalog)
    data = json.loads(json.dumps(store.export(LMT)))
    row = data["history"][0]
    fields = {**row, **{k: row["chain"][k] for k in ("salt", "personal_digest")},
              "chain_id": row["chain"]["id"], "chain_seq": row["chain"]["seq"],
              "chain_prev": row["chain"]["prev"]}
    assert row["chain"]["prev"] == chain.GENESIS
    assert chain.personal_digest(fields) == row["chain"]["personal_digest"]
    assert chain.row_hash(fields) == row["chain"]["hash"]
    receipt = data["receipts"]["VIETA"]
    entry = catalog.consents["VIETA"]
    assert receipt["description"] == entry.description["lv"]
    assert receipt["description_version"] == entry.description_version
    assert receipt["catalog_version"] == catalog.version
    assert receipt["description_digest"] == hashlib.sha256(
        entry.description["lv"].encode()).hexdigest() == row["description_digest"]
    assert receipt["chain_hash"] == row["chain"]["hash"]


def test_a_column_added_later_leaves_older_rows_verifying(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    row = {"event_id": "e", "msisdn": LMT, "salt": "00", "chain_id": "c", "chain_seq": 1,
           "chain_prev": chain.GENESIS}
    row["personal_digest"] = chain.personal_digest(row)
    before = chain.row_hash(row)
    monkeypatch.setattr(chain, "KEPT_EXTENSIONS", ("understood_as",))
    assert chain.row_hash(row) == before  # not set: hashed as before
    assert chain.row_hash({**row, "understood_as": "VIETA"}) != before
