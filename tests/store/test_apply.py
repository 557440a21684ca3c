"""apply_batch: every outcome, idempotent replay, the sequence guard, what the ledger holds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_core.model import Outcome
from consent_store.errors import BadRequest
from consent_store.requests import AppliedChange, ChangeRequest
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, MINOR, OTHER, T0, req


def _status(store: ConsentStore, msisdn: str, consent: str) -> str:
    return store.state(msisdn).consents[consent].status


def _ledger_count(store: ConsentStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM consent_events")).scalar_one())


def test_give_by_lmt_client_is_given_and_in_force(store: ConsentStore, catalog: Catalog) -> None:
    applied = store.apply(req("give", "VIETA"), catalog=catalog)
    assert applied.outcome is Outcome.GIVEN and not applied.replayed
    assert applied.reply_text == catalog.reply(Outcome.GIVEN, "VIETA", "lv")
    assert _status(store, LMT, "VIETA") == "given"
    assert store.may_use(LMT, "VIETA")


@pytest.mark.parametrize(("steps", "outcomes", "final"), [
    (["give", "give"], ["given", "already_given"], "given"),
    (["give", "withdraw"], ["given", "withdrawn"], "withdrawn"),
    (["give", "withdraw", "withdraw"], ["given", "withdrawn", "already_withdrawn"], "withdrawn"),
    (["withdraw"], ["already_withdrawn"], "none"),
    (["give", "withdraw", "give"], ["given", "withdrawn", "given"], "given"),
])
def test_give_and_withdraw_sequences(store: ConsentStore, catalog: Catalog, steps: list[str],
                                     outcomes: list[str], final: str) -> None:
    got = [store.apply(req(a, "METADATI"), catalog=catalog).outcome.value for a in steps]
    assert got == outcomes
    assert _status(store, LMT, "METADATI") == final


def test_other_operator_client_is_refused_lmt_only_consent_but_may_give_jaunumi(
        store: ConsentStore, catalog: Catalog) -> None:
    refused = store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog)
    assert refused.outcome is Outcome.REFUSED_NOT_LMT_CLIENT
    assert refused.reply_text == catalog.reply(Outcome.REFUSED_NOT_LMT_CLIENT, "VIETA", "lv")
    assert _status(store, OTHER, "VIETA") == "none"
    assert store.apply(req("give", "JAUNUMI", msisdn=OTHER), catalog=catalog).outcome \
        is Outcome.GIVEN


def test_number_missing_from_directory_counts_as_other_operator(
        store: ConsentStore, catalog: Catalog) -> None:
    stranger = "37120000999"
    assert store.apply(req("give", "AUTO", msisdn=stranger), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_LMT_CLIENT
    assert store.apply(req("give", "JAUNUMI", msisdn=stranger), catalog=catalog).outcome \
        is Outcome.GIVEN


def test_line_of_person_who_cannot_act_independently_is_refused_but_may_withdraw(
        store: ConsentStore, catalog: Catalog) -> None:
    assert store.apply(req("give", "JAUNUMI", msisdn=MINOR), catalog=catalog).outcome \
        is Outcome.REFUSED_NOT_INDEPENDENT
    assert store.apply(req("withdraw", "JAUNUMI", msisdn=MINOR), catalog=catalog).outcome \
        is Outcome.ALREADY_WITHDRAWN
    assert not store.may_use(MINOR, "JAUNUMI")


def test_unknown_command_is_recorded_and_answered_with_help(
        store: ConsentStore, catalog: Catalog) -> None:
    applied = store.apply(req("unknown", None, text="Labdien, gribu pici"), catalog=catalog)
    assert applied.outcome is Outcome.UNKNOWN_COMMAND and applied.consent is None
    assert applied.reply_text == catalog.reply(Outcome.UNKNOWN_COMMAND, None, "lv")
    [entry] = store.history(LMT)
    assert (entry.action, entry.outcome, entry.text) == ("unknown", "unknown_command",
                                                         "Labdien, gribu pici")


def test_replay_of_an_event_id_returns_first_outcome_and_changes_nothing(
        store: ConsentStore, catalog: Catalog) -> None:
    first = req("give", "VIETA", event_id="smsc-42")
    assert store.apply(first, catalog=catalog).outcome is Outcome.GIVEN
    store.apply(req("withdraw", "VIETA"), catalog=catalog)
    again = store.apply(first, catalog=catalog)
    assert again == AppliedChange("smsc-42", LMT, "VIETA", Outcome.GIVEN, replayed=True,
                                  reply_text=catalog.reply(Outcome.GIVEN, "VIETA", "lv"))
    assert _status(store, LMT, "VIETA") == "withdrawn"
    assert _ledger_count(store) == 2


def test_same_event_id_twice_in_one_batch_is_applied_once(
        store: ConsentStore, catalog: Catalog) -> None:
    give = req("give", "AUTO", event_id="dup-1")
    out = store.apply_batch([give, give], catalog=catalog)
    assert [(o.outcome, o.replayed) for o in out] == [(Outcome.GIVEN, False),
                                                     (Outcome.GIVEN, True)]
    assert _ledger_count(store) == 1


def test_batch_applies_in_order_so_give_then_stop_ends_withdrawn(
        store: ConsentStore, catalog: Catalog) -> None:
    out = store.apply_batch([req("give", "VIETA", seq=1), req("withdraw", "VIETA", seq=2),
                             req("give", "JAUNUMI", msisdn=OTHER, seq=1)], catalog=catalog)
    assert [o.outcome for o in out] == [Outcome.GIVEN, Outcome.WITHDRAWN, Outcome.GIVEN]
    assert _status(store, LMT, "VIETA") == "withdrawn"
    assert _status(store, OTHER, "JAUNUMI") == "given"


def test_older_sms_arriving_after_newer_is_superseded_and_state_untouched(
        store: ConsentStore, catalog: Catalog) -> None:
    stop = store.apply(req("withdraw", "VIETA", seq=7, at=T0 + timedelta(seconds=2)),
                       catalog=catalog)
    late_give = store.apply(req("give", "VIETA", seq=6, at=T0 + timedelta(seconds=1)),
                            catalog=catalog)
    assert stop.outcome is Outcome.ALREADY_WITHDRAWN
    # Told what is in force instead of "given" (docs/store.md, "Sequence guard").
    assert late_give.outcome is Outcome.SUPERSEDED
    assert late_give.reply_text == catalog.reply(Outcome.NONE_IN_FORCE, None, "lv")
    assert _status(store, LMT, "VIETA") == "none"
    # history is in the order the texts arrived
    assert [e.outcome for e in store.history(LMT)] == ["superseded", "already_withdrawn"]


def test_sequence_guard_is_per_consent_and_orders_other_channels_by_when_taken(
        store: ConsentStore, catalog: Catalog) -> None:
    def at(s: int) -> datetime:
        return T0 + timedelta(seconds=s)

    store.apply(req("give", "VIETA", seq=10, at=at(10)), catalog=catalog)
    # A different consent of the same number has its own guard.
    assert store.apply(req("give", "AUTO", seq=3, at=at(3)), catalog=catalog).outcome \
        is Outcome.GIVEN
    # A web change carries no ingest_seq: it stands where it was taken.
    assert store.apply(req("withdraw", "VIETA", channel="web", at=at(11)),
                       catalog=catalog).outcome is Outcome.WITHDRAWN
    assert store.apply(req("give", "VIETA", seq=12, at=at(12)), catalog=catalog).outcome \
        is Outcome.GIVEN
    assert store.apply(req("withdraw", "VIETA", seq=9, at=at(9)), catalog=catalog).outcome \
        is Outcome.SUPERSEDED
    assert store.may_use(LMT, "VIETA")


def test_ledger_row_holds_proof_of_consent(store: ConsentStore, catalog: Catalog) -> None:
    r = req("give", "SADARBIBA", seq=5, text="Sadarbība", raw_hex="00530061",
            data_coding=8, correlation_id="corr-1",
            smsc={"source_addr_ton": 1, "source_addr_npi": 1, "bind": "gw-a", "sequence": 99})
    store.apply(r, catalog=catalog)
    [e] = store.history(LMT)
    assert (e.event_id, e.msisdn, e.consent, e.action, e.outcome, e.channel) == \
        (r.event_id, LMT, "SADARBIBA", "give", "given", "sms")
    assert (e.text, e.raw_hex, e.data_coding, e.correlation_id, e.ingest_seq) == \
        ("Sadarbība", "00530061", 8, "corr-1", 5)
    assert e.smsc == {"source_addr_ton": 1, "source_addr_npi": 1, "bind": "gw-a", "sequence": 99}
    assert e.received_at == r.received_at and e.applied_at >= e.received_at
    assert e.catalog_version == catalog.version
    assert e.description_version == catalog.consents["SADARBIBA"].description_version
    assert e.reply_text == catalog.reply(Outcome.GIVEN, "SADARBIBA", "lv")
    [reply] = store.export(LMT)["replies"]
    assert (reply["event_id"], reply["text"], reply["submit_status"]) == \
        (r.event_id, e.reply_text, "pending")


def test_reply_language_follows_the_store_or_the_call(store: ConsentStore,
                                                      catalog: Catalog) -> None:
    applied = store.apply(req("give", "AUTO"), catalog=catalog, lang="en")
    assert applied.reply_text == catalog.reply(Outcome.GIVEN, "AUTO", "en")


def test_change_from_web_is_recorded_with_channel_and_gets_no_sms_reply(
        store: ConsentStore, catalog: Catalog) -> None:
    applied = store.apply(req("give", "VIETA", channel="customer_centre"), catalog=catalog)
    assert applied.outcome is Outcome.GIVEN and applied.reply_text is None
    assert store.state(LMT).consents["VIETA"].channel == "customer_centre"
    assert store.export(LMT)["replies"] == []


def test_hostile_text_is_stored_verbatim_and_harmless(store: ConsentStore,
                                                      catalog: Catalog) -> None:
    hostile = "'; DROP TABLE consent_events; --"
    store.apply(req("unknown", None, text=hostile, raw_hex=hostile.encode().hex()),
                catalog=catalog)
    store.apply(req("give", "VIETA", text=hostile), catalog=catalog)
    assert [e.text for e in store.history(LMT)] == [hostile, hostile]
    assert _ledger_count(store) == 2
    assert store.may_use(LMT, "VIETA")
    assert store.state(LMT).client_group == "lmt"


def test_text_with_nul_or_broken_surrogate_is_stored_not_rejected(
        store: ConsentStore, catalog: Catalog) -> None:
    # PostgreSQL text cannot hold NUL, UTF-8 cannot hold a lone surrogate: one such text
    # must not poison the batch. The exact bytes stay in raw_hex.
    out = store.apply_batch([req("unknown", None, text="A\x00B", raw_hex="410042"),
                             req("unknown", None, text="x\ud800y"),
                             req("give", "AUTO")], catalog=catalog)
    assert [o.outcome for o in out] == [Outcome.UNKNOWN_COMMAND, Outcome.UNKNOWN_COMMAND,
                                        Outcome.GIVEN]
    assert [e.text for e in store.history(LMT)][:2] == ["A\ufffdB", "x\ufffdy"]
    assert store.history(LMT)[0].raw_hex == "410042"


def test_empty_batch_does_nothing(store: ConsentStore, catalog: Catalog) -> None:
    assert store.apply_batch([], catalog=catalog) == []


def test_change_request_round_trips_through_json() -> None:
    r = req("give", "VIETA", seq=3, raw_hex="5649455441", data_coding=0,
            correlation_id="c-9", smsc={"bind": "a"})
    assert ChangeRequest.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    a = AppliedChange("e", LMT, None, Outcome.UNKNOWN_COMMAND, replayed=True, reply_text="x")
    assert AppliedChange.from_dict(json.loads(json.dumps(a.to_dict()))) == a


@pytest.mark.parametrize("bad", [
    {"action": "give", "consent": "PIZZA"},
    {"action": "give", "consent": None},
    {"action": "unknown", "consent": "VIETA"},
    {"action": "erase", "consent": "VIETA"},
    {"action": "give", "consent": "VIETA", "channel": "pigeon"},
    {"action": "give", "consent": "VIETA", "msisdn": "+37129123456"},
    {"action": "give", "consent": "VIETA", "received_at": "yesterday"},
])
def test_malformed_change_request_is_rejected(bad: dict[str, object]) -> None:
    data = req("give", "VIETA").to_dict() | bad
    with pytest.raises(BadRequest):
        ChangeRequest.from_dict(data)


def test_batch_whose_first_state_update_has_no_since_still_applies(
        store: ConsentStore, catalog: Catalog) -> None:
    # The first changed state row carries since=None (a STOP for a never-given consent only
    # advances the sequence guard); later rows carry times. PostgreSQL must get typed
    # parameters for every row of the executemany.
    # (State rows are written in (msisdn, consent) order: OTHER sorts before LMT.)
    assert OTHER < LMT
    out = store.apply_batch([req("withdraw", "VIETA", msisdn=OTHER, seq=1),
                             req("give", "JAUNUMI", seq=1)], catalog=catalog)
    assert [o.outcome for o in out] == [Outcome.ALREADY_WITHDRAWN, Outcome.GIVEN]
    assert store.may_use(LMT, "JAUNUMI")
