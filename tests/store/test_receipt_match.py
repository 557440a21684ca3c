"""Receipts match a reply by message id *and* number and SMSC (issue 11): message ids
repeat across SMSCs and restarts."""

from __future__ import annotations

from datetime import timedelta

from consent_core.catalog import Catalog
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, OTHER, T0, req


def test_receipt_matches_only_the_reply_to_its_number_through_its_smsc(
        store: ConsentStore, catalog: Catalog) -> None:
    store.import_subscribers([(OTHER, "lmt", True)])
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    b = store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog)
    # The same message id from two SMSCs (or one restarted).
    store.record_deliveries([(a.event_id, "42", "0x00", T0, "smsc-a:2775/gw"),
                             (b.event_id, "42", "0x00", T0, "smsc-b:2775/gw")], [])
    store.record_deliveries([], [("42", "DELIVRD", T0 + timedelta(seconds=5), "smsc-b:2775/gw",
                                  OTHER)])
    [ra] = store.export(LMT)["replies"]
    [rb] = store.export(OTHER)["replies"]
    assert ra["delivery_status"] is None
    assert rb["delivery_status"] == "DELIVRD"
    # Same number, other SMSC: no match either.
    store.record_deliveries([], [("42", "UNDELIV", T0, "smsc-c:2775/gw", LMT)])
    assert store.export(LMT)["replies"][0]["delivery_status"] is None
    # A receipt without number and SMSC (an older gateway) still matches by message id.
    store.record_deliveries([], [("42", "EXPIRED", T0)])
    assert store.export(LMT)["replies"][0]["delivery_status"] == "EXPIRED"


def test_the_last_word_of_one_batch_on_a_reply_stands(
        store: ConsentStore, catalog: Catalog) -> None:
    a = store.apply(req("give", "VIETA"), catalog=catalog)
    # Throttled, then accepted on the resubmit; then two receipts: all in one batch.
    store.record_deliveries(
        [(a.event_id, None, "0x58", T0, None),
         (a.event_id, "77", "0x00", T0 + timedelta(seconds=1), "smsc-a:2775/gw")],
        [("77", "ENROUTE", T0 + timedelta(seconds=2), "smsc-a:2775/gw", LMT),
         ("77", "DELIVRD", T0 + timedelta(seconds=3), "smsc-a:2775/gw", LMT)])
    [reply] = store.export(LMT)["replies"]
    assert (reply["message_id"], reply["submit_status"]) == ("77", "0x00")
    assert reply["delivery_status"] == "DELIVRD"
