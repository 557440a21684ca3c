"""The seed's rules as they are meant: lapse counts communication, back-dated entries,
handover to a new holder, guardian consent for a minor's line, erasure keeps LMT's directory
facts, replies as they really went."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent_core.catalog import Catalog
from consent_core.clock import FixedClock
from consent_core.model import Outcome
from consent_store.errors import BadRequest
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, MINOR, NOW, OTHER, T0, req

PERIOD = timedelta(days=183)
LATER = T0 + timedelta(days=150)  # a communication 150 days after JAUNUMI was given


def _lapses_at(store: ConsentStore, at: object) -> list[str]:
    return [c.msisdn for c in store.lapse(at, PERIOD, dry_run=True)]  # type: ignore[arg-type]


# --- lapse counts communication (seed rule 4) ------------------------------------------

@pytest.mark.parametrize("communication", [
    pytest.param(lambda s, c: s.apply(req("unknown", None, at=LATER, text="sveiki"),
                                      catalog=c), id="any-text-from-the-number"),
    pytest.param(lambda s, c: s.apply(req("give", "VIETA", at=LATER), catalog=c),
                 id="a-change-of-another-consent"),
    pytest.param(lambda s, c: s.apply(req("withdraw", "AUTO", at=LATER, channel="web"),
                                      catalog=c), id="a-change-through-the-web"),
    pytest.param(lambda s, c: s.record_contact(LMT, "call", at=LATER), id="a-reported-call"),
])
def test_every_communication_restarts_the_inactivity_period(
        store: ConsentStore, catalog: Catalog, clock: FixedClock, communication: object) -> None:
    clock.set(T0 + PERIOD * 3)
    store.apply(req("give", "JAUNUMI", at=T0), catalog=catalog)
    assert _lapses_at(store, T0 + PERIOD + timedelta(days=1)) == [LMT]
    communication(store, catalog)  # type: ignore[operator]
    assert _lapses_at(store, T0 + PERIOD + timedelta(days=1)) == []
    assert _lapses_at(store, LATER + PERIOD + timedelta(seconds=1)) == [LMT]
    [lapsed] = store.lapse(LATER + PERIOD + timedelta(seconds=1), PERIOD)
    assert lapsed.last_activity_at == LATER
    assert "no communication since" in (store.history(LMT)[-1].reason or "")


def test_an_older_contact_does_not_move_the_last_communication_back(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    clock.set(T0 + PERIOD * 3)
    store.apply(req("give", "JAUNUMI", at=LATER), catalog=catalog)
    store.record_contact(LMT, "email", at=T0)
    assert _lapses_at(store, T0 + PERIOD + timedelta(days=1)) == []


def test_contact_is_validated_and_never_in_the_future(store: ConsentStore) -> None:
    with pytest.raises(BadRequest, match="in the future"):
        store.record_contact(LMT, "call", at=NOW + timedelta(minutes=1))
    with pytest.raises(BadRequest, match="channel"):
        store.record_contact(LMT, "pigeon")
    row = store.record_contact(LMT, "customer_centre", note="asked about roaming")
    assert row["occurred_at"] == row["recorded_at"] == "2025-12-24T20:01:02Z"


def test_lapse_as_of_the_future_only_as_a_preview(store: ConsentStore,
                                                  catalog: Catalog) -> None:
    store.apply(req("give", "JAUNUMI", at=T0), catalog=catalog)
    future = T0 + PERIOD * 2
    assert _lapses_at(store, future) == [LMT]
    with pytest.raises(BadRequest, match="future"):
        store.lapse(future, PERIOD)
    assert store.may_use(LMT, "JAUNUMI")


def test_lapse_as_of_a_past_instant_is_recorded_then(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    store.apply(req("give", "JAUNUMI", at=T0 - PERIOD * 2), catalog=catalog)
    as_of = T0 - PERIOD + timedelta(days=10)
    assert len(store.lapse(as_of, PERIOD)) == 1
    last = store.history(LMT)[-1]
    assert (last.outcome, last.received_at, last.applied_at) == ("lapsed", as_of, NOW)
    assert store.state(LMT).consents["JAUNUMI"].since == as_of


# --- back-dated entries ------------------------------------------------------------------

def test_back_dated_entry_is_recorded_with_both_instants(store: ConsentStore,
                                                         catalog: Catalog) -> None:
    signed = T0 - timedelta(days=3)
    applied = store.apply(req("give", "VIETA", channel="customer_centre", at=NOW,
                              effective_at=signed, agent="agent-7", reference="form 123"),
                          catalog=catalog)
    assert applied.outcome is Outcome.GIVEN
    [entry] = store.history(LMT)
    assert (entry.received_at, entry.entered_at, entry.applied_at) == (signed, NOW, NOW)
    assert (entry.agent, entry.reference) == ("agent-7", "form 123")
    assert store.state(LMT).consents["VIETA"].since == signed
    assert store.may_use(LMT, "VIETA", at=signed + timedelta(seconds=1))
    assert not store.may_use(LMT, "VIETA", at=signed - timedelta(seconds=1))


def test_back_dated_entry_never_overrides_a_later_change(store: ConsentStore,
                                                         catalog: Catalog) -> None:
    store.apply(req("withdraw", "VIETA", at=T0 + timedelta(days=2)), catalog=catalog)
    store.apply(req("give", "VIETA", at=T0 + timedelta(days=3)), catalog=catalog)
    # A paper withdrawal signed before that give, entered today: recorded, not applied.
    late = store.apply(req("withdraw", "VIETA", channel="customer_centre", at=NOW,
                           effective_at=T0 + timedelta(days=1)), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED
    assert "later change of VIETA" in (late.reason or "")
    assert store.may_use(LMT, "VIETA")
    entry = store.history(LMT)[0]
    assert (entry.outcome, entry.entered_at) == ("superseded", NOW)
    # One signed after the last change does apply.
    assert store.apply(req("withdraw", "VIETA", channel="customer_centre", at=NOW,
                           effective_at=T0 + timedelta(days=4)), catalog=catalog).outcome \
        is Outcome.WITHDRAWN
    assert store.verify(LMT).intact


def test_back_dated_entry_is_never_in_the_future() -> None:
    with pytest.raises(BadRequest, match="back-dated"):
        req("give", "VIETA", channel="customer_centre", at=NOW,
            effective_at=NOW + timedelta(seconds=1))


def test_back_dated_entry_from_before_a_reset_does_not_reach_the_new_holder(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    clock.set(T0 + timedelta(days=10))
    store.reset(LMT, "reassigned")
    clock.set(NOW)
    late = store.apply(req("give", "VIETA", channel="customer_centre", at=NOW,
                           effective_at=T0 + timedelta(days=5)), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED and "new holder" in (late.reason or "")
    assert not store.may_use(LMT, "VIETA")


# --- handover (seed rule 6) ----------------------------------------------------------------

def test_after_reset_the_new_holder_sees_only_their_own_period(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    old = [req("give", "VIETA", at=T0, text="vieta"), req("give", "JAUNUMI", at=T0)]
    store.apply_batch(old, catalog=catalog)
    store.record_contact(LMT, "call", at=T0 + timedelta(days=1), note="old holder's call")
    reset_at = T0 + timedelta(days=10)
    clock.set(reset_at)
    store.reset(LMT, "number handed to a new user")
    new = req("give", "AUTO", at=reset_at + timedelta(days=1), text="auto")
    clock.set(NOW)
    store.apply(new, catalog=catalog)

    assert [e.event_id for e in store.history(LMT)] == [new.event_id]
    audit = store.history(LMT, all_holders=True)
    assert [e.action for e in audit] == ["give", "give", "reset", "reset", "give"]

    data = store.export(LMT)
    assert data["holder_since"] == "2025-12-04T20:01:02Z"
    assert [h["event_id"] for h in data["history"]] == [new.event_id]
    assert [r["event_id"] for r in data["replies"]] == [new.event_id]
    assert {c: v["status"] for c, v in data["consents"].items()} == {
        "JAUNUMI": "none", "METADATI": "none", "AUTO": "given", "VIETA": "none",
        "SADARBIBA": "none"}
    assert "vieta" not in str(data) and list(data["receipts"]) == ["AUTO"]
    assert data["contacts"] == []
    store.record_contact(LMT, "email", note="new holder's mail")
    assert [c["note"] for c in store.export(LMT)["contacts"]] == ["new holder's mail"]
    # What was in force before the handover is still answered.
    before = store.state(LMT, at=reset_at - timedelta(seconds=1)).consents
    assert before["VIETA"].status == "given" and before["AUTO"].status == "none"


# --- minors (seed rule 5) ----------------------------------------------------------------------

def test_minor_line_refused_by_sms_but_a_guardian_can_give_at_a_customer_centre(
        store: ConsentStore, catalog: Catalog) -> None:
    assert store.apply(req("give", "VIETA", msisdn=MINOR), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_INDEPENDENT
    applied = store.apply(req("give", "VIETA", msisdn=MINOR, channel="customer_centre",
                              on_behalf="guardian", agent="agent-7"), catalog=catalog)
    assert applied.outcome is Outcome.GIVEN
    entry = store.history(MINOR)[-1]
    assert (entry.on_behalf, entry.channel, entry.agent) == ("guardian", "customer_centre",
                                                             "agent-7")
    assert store.may_use(MINOR, "VIETA")


def test_guardian_may_act_only_for_a_line_marked_not_independent(store: ConsentStore) -> None:
    assert store.guardian_may_act(MINOR)
    assert not store.guardian_may_act(LMT)
    assert not store.guardian_may_act("37120000000")  # not in the directory


def test_guardian_basis_only_where_a_guardian_is_identified() -> None:
    with pytest.raises(BadRequest, match="guardian"):
        req("give", "VIETA", msisdn=MINOR, channel="web", on_behalf="guardian")
    with pytest.raises(BadRequest, match="on_behalf"):
        req("give", "VIETA", msisdn=MINOR, channel="customer_centre", on_behalf="aunt")


def test_guardian_still_cannot_give_an_lmt_only_consent_to_another_operators_client(
        store: ConsentStore, catalog: Catalog) -> None:
    store.import_subscribers([(OTHER, "other", False)])
    assert store.apply(req("give", "VIETA", msisdn=OTHER, channel="customer_centre",
                           on_behalf="guardian"), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_LMT_CLIENT


# --- erasure (seed rule 8) -----------------------------------------------------------------------

def test_erased_lmt_client_can_give_an_lmt_only_consent_again(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(req("give", "VIETA"), catalog=catalog)
    store.record_contact(LMT, "call")
    report = store.erase(LMT, "data subject request")
    assert report.directory_kept and report.contacts_deleted == 1
    again = store.apply(req("give", "VIETA"), catalog=catalog)
    assert again.outcome is Outcome.GIVEN and store.may_use(LMT, "VIETA")
    minor = store.erase(MINOR, "request")
    assert minor.directory_kept
    assert store.apply(req("give", "VIETA", msisdn=MINOR), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_INDEPENDENT


# --- replies as they really went -------------------------------------------------------------------

def test_each_reply_carries_its_fate(store: ConsentStore, catalog: Catalog) -> None:
    ids = {}
    for name in ("queued", "accepted", "delivered", "failed", "undelivered", "suppressed"):
        ids[name] = store.apply(req("give", "VIETA"), catalog=catalog).event_id
    store.record_submit(ids["accepted"], "m1", "0x00")
    store.record_submit(ids["delivered"], "m2", "0x00")
    store.record_receipt("m2", "DELIVRD", NOW)
    store.record_submit(ids["failed"], None, "0x58")
    store.record_submit(ids["undelivered"], "m3", "0x00")
    store.record_receipt("m3", "UNDELIV", NOW)
    assert store.record_suppressed([(ids["suppressed"], "per-number limit: 5 a minute")]) == 1
    fates = {r["event_id"]: (r["fate"], r["reason"]) for r in store.export(LMT)["replies"]}
    assert fates == {
        ids["queued"]: ("queued", None), ids["accepted"]: ("accepted", None),
        ids["delivered"]: ("delivered", None), ids["failed"]: ("failed", None),
        ids["undelivered"]: ("failed", None),
        ids["suppressed"]: ("suppressed", "per-number limit: 5 a minute")}
