"""Last word by arrival: a consent follows the change that arrived last (a text: at a
gateway; another channel's change: when it was taken), whatever order the changes were
applied in (docs/store.md "Sequence guard", docs/guarantees.md "Order")."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_core.model import Outcome
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, T0, req

RAPID = ["VIETA", "VIETA STOP", "METADATI", "METADATI STOP", "METADATI"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sms(text: str, arrived: float, *, msisdn: str = LMT, seq: int | None = None,
        event_id: str | None = None) -> ChangeRequest:
    words = text.split()
    if len(words) == 1 and words[0] in ("VIETA", "METADATI", "AUTO", "JAUNUMI", "SADARBIBA"):
        return req("give", words[0], msisdn=msisdn, at=at(arrived), seq=seq, text=text,
                   event_id=event_id)
    if len(words) == 2 and words[1] == "STOP" and words[0] != "VISS":
        return req("withdraw", words[0], msisdn=msisdn, at=at(arrived), seq=seq, text=text,
                   event_id=event_id)
    return req("unknown", None, msisdn=msisdn, at=at(arrived), seq=seq, text=text,
               event_id=event_id)


def status(store: ConsentStore, msisdn: str, consent: str) -> str:
    return store.state(msisdn).consents[consent].status


def test_every_order_of_applying_five_texts_ends_in_the_state_of_the_last_to_arrive(
        store: ConsentStore, catalog: Catalog) -> None:
    """The issue's sequence, spread over two gateways and applied in each of the 120
    orders (one number per order), always ends with VIETA not in force, METADATI given."""
    orders = list(itertools.permutations(range(len(RAPID))))
    numbers = [f"3712900{i:04d}" for i in range(len(orders))]
    store.import_subscribers([SubscriberRow(n, "lmt") for n in numbers])
    batch = []
    for n, order in zip(numbers, orders, strict=True):
        # Arrived 1 ms apart in the order typed; queued (ingest_seq) in the order applied.
        batch += [sms(RAPID[i], 0.001 * i, msisdn=n, seq=k + 1, event_id=f"{n}-{i}")
                  for k, i in enumerate(order)]
    out = store.apply_batch(batch, catalog=catalog)
    for n in numbers:
        state = store.state(n).consents
        # VIETA not in force ("none" when its STOP was applied before the give), METADATI is.
        assert state["VIETA"].status in ("withdrawn", "none"), n
        assert state["METADATI"].status == "given", n
    superseded = [o for o in out if o.outcome is Outcome.SUPERSEDED]
    assert superseded and all(o.reply_text for o in superseded)


def test_a_late_text_is_superseded_and_told_what_is_in_force(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(sms("JAUNUMI", 1), catalog=catalog)
    store.apply(sms("VIETA STOP", 3), catalog=catalog)
    late = store.apply(sms("VIETA", 2), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED
    assert late.reply_text == catalog.reply(Outcome.STOP_INFO, None, "lv", ("JAUNUMI",))
    assert status(store, LMT, "VIETA") == "none"
    [row] = [e for e in store.history(LMT) if e.event_id == late.event_id]
    assert (row.outcome, row.reply_text) == ("superseded", late.reply_text)


def test_equal_arrival_instants_are_ordered_by_the_ingest_sequence(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(sms("VIETA STOP", 1, seq=8), catalog=catalog)
    late = store.apply(sms("VIETA", 1, seq=7), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED
    assert store.apply(sms("VIETA", 1, seq=9), catalog=catalog).outcome \
        is Outcome.GIVEN


def test_operator_change_stands_where_it_was_taken_against_texts(
        store: ConsentStore, catalog: Catalog) -> None:
    # A text that arrived before the customer centre's change but is applied after it.
    store.apply(req("give", "VIETA", channel="customer_centre", at=at(5)), catalog=catalog)
    late = store.apply(sms("VIETA STOP", 4), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED
    assert status(store, LMT, "VIETA") == "given"
    # A change taken before a text that was applied first: the text is the later word.
    store.apply(sms("AUTO STOP", 7), catalog=catalog)
    web = store.apply(req("give", "AUTO", channel="web", at=at(6)), catalog=catalog)
    assert web.outcome is Outcome.SUPERSEDED and web.reply_text is None
    assert status(store, LMT, "AUTO") == "none"


def test_viss_stop_that_arrived_before_a_give_applied_first_leaves_that_give(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply_batch([sms("JAUNUMI", 1), sms("AUTO", 2)],
                      catalog=catalog)
    store.apply(sms("VIETA", 5), catalog=catalog)
    stop_all = store.apply(sms("VISS STOP", 4), catalog=catalog)
    given = {k for k, v in store.state(LMT).consents.items() if v.status == "given"}
    assert given == {"VIETA"}
    assert stop_all.reply_text == catalog.reply(Outcome.ALL_WITHDRAWN, None, "lv",
                                                ("JAUNUMI", "AUTO"))
    # Only the late consent is left, and a VISS STOP that changes nothing at all because
    # every consent it would withdraw has a later word is told what is in force.
    again = store.apply(sms("VISS STOP", 3), catalog=catalog)
    assert again.outcome is Outcome.SUPERSEDED
    assert again.reply_text == catalog.reply(Outcome.STOP_INFO, None, "lv", ("VIETA",))


def test_ja_answers_the_text_that_arrived_just_before_it_even_if_applied_after_a_later_one(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(sms("vietu", 1), catalog=catalog)
    store.apply(sms("HELP", 9), catalog=catalog)  # arrived after the JĀ
    yes = store.apply(sms("JĀ", 5), catalog=catalog)
    assert yes.outcome is Outcome.GIVEN
    assert status(store, LMT, "VIETA") == "given"
    # A text that arrived in between cancels the question, as before.
    store.apply(sms("jaunumus", 20), catalog=catalog)
    store.apply(sms("HELP", 21), catalog=catalog)
    assert store.apply(sms("JĀ", 22), catalog=catalog).outcome \
        is Outcome.NOTHING_TO_CONFIRM


def test_state_written_before_arrival_was_kept_is_guarded_by_sequence_alone(
        store: ConsentStore, catalog: Catalog) -> None:
    store.apply(sms("VIETA STOP", 1, seq=10), catalog=catalog)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE consent_state SET last_at = NULL"))
    late = store.apply(sms("VIETA", 2, seq=9), catalog=catalog)
    assert late.outcome is Outcome.SUPERSEDED
    assert store.apply(sms("VIETA", 3, seq=11), catalog=catalog).outcome \
        is Outcome.GIVEN
