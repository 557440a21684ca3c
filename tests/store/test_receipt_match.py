"""Receipts match a reply by message id *and* number and SMSC (issue 11): message ids
repeat across SMSCs and restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent_core.catalog import Catalog
from consent_core.changes import ReceiptUpdate, SubmitResult
from consent_store.errors import StoreError
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, OTHER, T0, req


def test_receipt_matches_only_the_reply_to_its_number_through_its_smsc(
        store: ConsentStore, catalog: Catalog) -> None:
    store.import_subscribers([(OTHER, "lmt", True)])
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    b = store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog)
    # The same message id from two SMSCs (or one restarted).
    store.record_deliveries([SubmitResult(a.event_id, "42", "0x00", T0, "smsc-a:2775/gw"),
                             SubmitResult(b.event_id, "42", "0x00", T0, "smsc-b:2775/gw")], [])
    store.record_deliveries([], [ReceiptUpdate("42", "DELIVRD", T0 + timedelta(seconds=5),
                                               "smsc-b:2775/gw", OTHER)])
    [ra] = store.export(LMT)["replies"]
    [rb] = store.export(OTHER)["replies"]
    assert ra["delivery_status"] is None
    assert rb["delivery_status"] == "DELIVRD"
    # Same number, other SMSC: no match either.
    store.record_deliveries([], [ReceiptUpdate("42", "UNDELIV", T0, "smsc-c:2775/gw", LMT)])
    assert store.export(LMT)["replies"][0]["delivery_status"] is None
    # A receipt without number and SMSC (an older gateway) still matches by message id.
    store.record_deliveries([], [ReceiptUpdate("42", "EXPIRED", T0)])
    replies = {r["event_id"]: r for r in store.export(LMT)["replies"]}
    assert replies[a.event_id]["delivery_status"] == "EXPIRED"


def test_the_last_word_of_one_batch_on_a_reply_stands(
        store: ConsentStore, catalog: Catalog) -> None:
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    # Throttled, then accepted on the resubmit; then two receipts: all in one batch.
    store.record_deliveries(
        [SubmitResult(a.event_id, None, "0x58", T0),
         SubmitResult(a.event_id, "77", "0x00", T0 + timedelta(seconds=1), "smsc-a:2775/gw")],
        [ReceiptUpdate("77", "ENROUTE", T0 + timedelta(seconds=2), "smsc-a:2775/gw", LMT),
         ReceiptUpdate("77", "DELIVRD", T0 + timedelta(seconds=3), "smsc-a:2775/gw", LMT)])
    [reply] = store.export(LMT)["replies"]
    assert (reply["message_id"], reply["submit_status"]) == ("77", "0x00")
    assert reply["delivery_status"] == "DELIVRD"


def test_delivery_updates_riding_with_a_batch_are_recorded_in_its_transaction(
        store: ConsentStore, catalog: Catalog) -> None:
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    [b] = store.apply_batch(
        [req("give", "AUTO")], catalog=catalog,
        submits=[SubmitResult(a.event_id, "91", "0x00", T0, "smsc-a:2775/gw")],
        receipts=[ReceiptUpdate("91", "DELIVRD", T0 + timedelta(seconds=2), "smsc-a:2775/gw",
                                LMT)])
    assert b.outcome.value == "given"
    replies = {r["event_id"]: r for r in store.export(LMT)["replies"]}
    assert (replies[a.event_id]["message_id"], replies[a.event_id]["delivery_status"]) == \
        ("91", "DELIVRD")
    # Updates alone (every text of the batch unreadable) are still recorded.
    store.apply_batch([], catalog=catalog, submits=[], receipts=[
        ReceiptUpdate("91", "EXPIRED", T0 + timedelta(seconds=3), "smsc-a:2775/gw", LMT)])
    replies = {r["event_id"]: r for r in store.export(LMT)["replies"]}
    assert replies[a.event_id]["delivery_status"] == "EXPIRED"


def test_an_update_the_database_refuses_takes_the_batch_with_it(
        store: ConsentStore, catalog: Catalog) -> None:
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    with pytest.raises(StoreError):
        # A submit status of NULL breaks the replies table's NOT NULL: one transaction,
        # so the change in the same batch is not applied either (the worker then applies
        # the changes alone: tests/workers/test_deliveries_apart.py).
        store.apply_batch([req("give", "AUTO")], catalog=catalog,
                          submits=[SubmitResult(a.event_id, "92", None, T0)])  # type: ignore[arg-type]
    assert [e.consent for e in store.history(LMT)] == ["VIETA"]
