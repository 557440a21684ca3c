"""Lapse, reset, erasure, the directory import and reply tracking."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_core.clock import FixedClock
from consent_core.model import Outcome
from consent_store.errors import BadRequest, NotFound
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, OTHER, T0, req

PERIOD = timedelta(days=183)


def test_jaunumi_without_activity_for_the_period_lapses(store: ConsentStore,
                                                        catalog: Catalog,
        clock: FixedClock) -> None:
    clock.set(T0 + PERIOD * 3)
    store.apply(req("give", "JAUNUMI", at=T0), catalog=catalog)
    store.apply(req("give", "VIETA", at=T0), catalog=catalog)
    now = T0 + PERIOD + timedelta(seconds=1)
    [lapsed] = store.lapse(now, PERIOD)
    assert (lapsed.msisdn, lapsed.last_activity_at) == (LMT, T0)
    state = store.state(LMT).consents
    assert (state["JAUNUMI"].status, state["JAUNUMI"].channel) == ("lapsed", "system")
    assert state["VIETA"].status == "given"  # only JAUNUMI lapses (seed rule 4)
    last = store.history(LMT)[-1]
    assert (last.action, last.outcome, last.channel) == ("lapse", "lapsed", "system")
    assert store.lapse(now, PERIOD) == []  # nothing twice
    assert not store.may_use(LMT, "JAUNUMI")
    # Giving again after a lapse works as after a withdrawal.
    assert store.apply(req("give", "JAUNUMI", at=now), catalog=catalog).outcome is Outcome.GIVEN


def test_lapse_dry_run_reports_and_changes_nothing(store: ConsentStore,
                                                   catalog: Catalog,
        clock: FixedClock) -> None:
    clock.set(T0 + PERIOD * 3)
    store.apply(req("give", "JAUNUMI", at=T0), catalog=catalog)
    store.apply(req("give", "JAUNUMI", msisdn=OTHER, at=T0), catalog=catalog)
    due = store.lapse(T0 + PERIOD * 2, PERIOD, dry_run=True)
    assert sorted(c.msisdn for c in due) == sorted([LMT, OTHER])
    assert store.may_use(LMT, "JAUNUMI") and store.may_use(OTHER, "JAUNUMI")
    assert [c.msisdn for c in store.lapse(T0 + PERIOD * 2, PERIOD)] == \
        [c.msisdn for c in due]


def test_renewed_jaunumi_restarts_the_inactivity_period(store: ConsentStore,
                                                        catalog: Catalog,
        clock: FixedClock) -> None:
    clock.set(T0 + PERIOD * 3)
    store.apply(req("give", "JAUNUMI", at=T0), catalog=catalog)
    renewed = T0 + timedelta(days=100)
    assert store.apply(req("give", "JAUNUMI", at=renewed), catalog=catalog).outcome \
        is Outcome.ALREADY_GIVEN
    assert store.lapse(T0 + PERIOD + timedelta(days=1), PERIOD) == []
    assert len(store.lapse(renewed + PERIOD + timedelta(days=1), PERIOD)) == 1


def test_lapse_works_in_chunks(store: ConsentStore, catalog: Catalog,
                               monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> None:
    clock.set(T0 + PERIOD * 3)
    import consent_store.store as store_module

    monkeypatch.setattr(store_module, "LAPSE_CHUNK", 3)
    numbers = [f"3712700{i:04d}" for i in range(8)]
    store.apply_batch([req("give", "JAUNUMI", msisdn=n, at=T0) for n in numbers],
                      catalog=catalog)
    assert len(store.lapse(T0 + PERIOD * 2, PERIOD, dry_run=True)) == 8
    assert sorted(c.msisdn for c in store.lapse(T0 + PERIOD * 2, PERIOD)) == numbers
    assert not any(store.may_use(n, "JAUNUMI") for n in numbers)


def test_reset_withdraws_every_given_consent_and_records_reason(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply_batch([req("give", "VIETA"), req("give", "JAUNUMI"), req("give", "AUTO"),
                       req("withdraw", "AUTO")], catalog=catalog)
    changes = store.reset(LMT, "number handed to a new user")
    assert sorted(c.consent or "" for c in changes) == ["JAUNUMI", "VIETA"]
    assert {c.outcome for c in changes} == {Outcome.RESET}
    state = store.state(LMT).consents
    assert {c: v.status for c, v in state.items()} == {
        "JAUNUMI": "withdrawn", "METADATI": "none", "AUTO": "withdrawn", "VIETA": "withdrawn",
        "SADARBIBA": "none"}
    assert state["VIETA"].channel == "operator"
    resets = [e for e in store.history(LMT, all_holders=True) if e.action == "reset"]
    assert {e.reason for e in resets} == {"number handed to a new user"}
    # The new user's own choices apply from now on; a text that arrived before the reset
    # (the previous holder's), applied only now, changes nothing.
    assert store.apply(req("give", "JAUNUMI"), catalog=catalog).outcome is Outcome.SUPERSEDED
    assert store.apply(req("give", "VIETA", at=store.clock() + timedelta(seconds=1)),
                       catalog=catalog).outcome is Outcome.GIVEN


def test_reset_with_nothing_in_force_is_still_recorded(store: ConsentStore) -> None:
    [change] = store.reset(OTHER, "reassigned", channel="customer_centre")
    assert (change.consent, change.outcome) == (None, Outcome.RESET)
    [entry] = store.history(OTHER, all_holders=True)
    assert (entry.action, entry.channel, entry.reason) == ("reset", "customer_centre",
                                                           "reassigned")
    with pytest.raises(NotFound):
        store.reset("37120000000", "x")


def test_erase_removes_personal_data_and_keeps_pseudonymised_proof(
        store: ConsentStore, catalog: Catalog) -> None:
    t = T0 + timedelta(days=5)
    store.apply(req("give", "VIETA", at=t, text="Vieta", raw_hex="5669657461",
                    correlation_id="corr-erase-me", smsc={"bind": "gw"}), catalog=catalog)
    store.apply(req("withdraw", "VIETA", at=t + timedelta(hours=1)), catalog=catalog)
    store.apply(req("give", "JAUNUMI", at=t + timedelta(hours=2)), catalog=catalog)
    report = store.erase(LMT, "data subject request 2026-11-25")
    assert report.events_pseudonymised == 3 and report.directory_kept
    assert report.replies_deleted == 3

    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM consent_events")).mappings().all()
        assert conn.execute(sa.text("SELECT count(*) FROM replies")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM consent_state WHERE msisdn = :m"),
                            {"m": LMT}).scalar_one() == 0
    dump = json.dumps([dict(r) for r in rows], default=str)
    for personal in (LMT, "Vieta", "5669657461", "corr-erase-me", '"gw"'):
        assert personal not in dump
    # Proof of consent and withdrawal: what, when, how and what they were told.
    history = store.history(LMT)
    assert [(e.consent, e.action, e.outcome) for e in history] == [
        ("VIETA", "give", "given"), ("VIETA", "withdraw", "withdrawn"),
        ("JAUNUMI", "give", "given"), (None, "erase", "erased")]
    assert {e.msisdn for e in history} == {store.pseudonym(LMT)}
    assert history[0].received_at == t and history[0].catalog_version == catalog.version
    assert history[-1].reason == "data subject request 2026-11-25"
    # Nothing is in force any more, but what was in force then can still be shown.
    assert not store.may_use(LMT, "JAUNUMI")
    assert store.may_use(LMT, "VIETA", at=t + timedelta(minutes=30))
    # The directory facts are LMT's, not the subscriber's: kept (docs/store.md, "Erasure").
    assert store.state(LMT).client_group == "lmt"
    assert not store.may_use(LMT, "JAUNUMI", at=t + timedelta(days=365))


def test_number_texting_again_after_erasure_starts_afresh(store: ConsentStore,
                                                          catalog: Catalog) -> None:
    store.apply(req("give", "JAUNUMI"), catalog=catalog)
    store.erase(LMT, "request")
    assert store.apply(req("give", "JAUNUMI", msisdn=LMT), catalog=catalog).outcome \
        is Outcome.GIVEN
    assert store.may_use(LMT, "JAUNUMI")
    with pytest.raises(NotFound):
        store.erase("37120000000", "x")


def test_import_upserts_in_chunks(store: ConsentStore, catalog: Catalog) -> None:
    rows = (SubscriberRow(f"3712800{i:04d}", "lmt" if i % 2 else "other", i % 3 != 0)
            for i in range(10))
    assert store.import_subscribers(rows, chunk_size=3) == 10
    assert store.state("37128000001").client_group == "lmt"
    assert store.state("37128000000").independent is False
    # Moving a number between groups changes eligibility from then on.
    assert store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_LMT_CLIENT
    store.import_subscribers([(OTHER, "lmt", True), (OTHER, "lmt", True)])
    assert store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog).outcome \
        is Outcome.GIVEN
    with pytest.raises(BadRequest):
        store.import_subscribers([("37128000000", "vip", True)])


def test_reply_submit_and_delivery_receipt_are_tracked(store: ConsentStore,
                                                       catalog: Catalog) -> None:
    applied = store.apply(req("give", "VIETA"), catalog=catalog)
    assert store.record_submit(applied.event_id, "msg-1", "ok")
    assert not store.record_submit("no-such-event", "msg-2", "ok")
    assert store.record_receipt("msg-1", "DELIVRD", T0 + timedelta(days=1)) == 1
    assert store.record_receipt("msg-unknown", "DELIVRD", T0) == 0
    [reply] = store.export(LMT)["replies"]
    assert (reply["message_id"], reply["submit_status"], reply["delivery_status"]) == \
        ("msg-1", "ok", "DELIVRD")
    assert reply["delivered_at"] == "2025-11-25T20:01:02Z"
