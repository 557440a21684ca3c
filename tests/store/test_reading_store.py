"""Texts in people's own words, applied through the store: several withdrawals in one text,
natural-language withdrawals, questions, and the whole dangerous part of the corpus
(tests/core/corpus.py) — none of it records a give, with or without a JĀ question waiting."""

from __future__ import annotations

from datetime import timedelta

from consent_core.catalog import Catalog
from consent_core.model import Outcome
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.core.corpus import cases
from tests.store.conftest import LMT, T0, req
from tests.store.test_texts import Phone


def test_several_withdrawals_in_one_text_each_applied_in_order_one_reply(
        store: ConsentStore, catalog: Catalog) -> None:
    phone = Phone(store, catalog)
    phone.send("VIETA")
    phone.send("AUTO")
    before = len(store.history(LMT))
    outcome, reply = phone.send("SADARBIBA STOP, AUTO STOP un VIETA STOP")
    assert outcome is Outcome.ALREADY_WITHDRAWN  # the first one named
    assert reply == catalog.reply(Outcome.PARTLY_WITHDRAWN, None, "lv", ("AUTO", "VIETA"),
                                  ("SADARBIBA",))
    rows = store.history(LMT)[before:]
    assert [(r.consent, r.outcome) for r in rows] == [
        ("SADARBIBA", "already_withdrawn"), ("AUTO", "withdrawn"), ("VIETA", "withdrawn")]
    assert {r.understood for r in rows} == {"SADARBIBA STOP, AUTO STOP, VIETA STOP"}
    assert [r.reply_text for r in rows] == [reply, None, None]  # one SMS back
    assert phone.given() == []


def test_natural_language_withdrawals_withdraw(store: ConsentStore, catalog: Catalog) -> None:
    phone = Phone(store, catalog)
    for keyword, text in [("JAUNUMI", "nevēlos saņemt jaunumus"), ("VIETA", "🚫 VIETA"),
                          ("METADATI", "NEMETADATI"), ("SADARBIBA", "SADARBIBAST"),
                          ("AUTO", "AUTO СТОР")]:
        phone.send(keyword)
        assert phone.send(text)[0] is Outcome.WITHDRAWN, text
        assert keyword not in phone.given()
    assert phone.send("STOPALL")[0] is Outcome.NONE_IN_FORCE


def test_a_question_is_answered_never_given(store: ConsentStore, catalog: Catalog) -> None:
    phone = Phone(store, catalog)
    assert phone.send("VIETA?") == (Outcome.EXPLAINED, catalog.reply(Outcome.EXPLAINED, "VIETA"))
    assert phone.send("kas ir AUTO")[0] is Outcome.EXPLAINED
    assert phone.given() == []
    row = store.history(LMT)[-1]
    assert (row.consent, row.action, row.outcome, row.match_rule) == (
        "AUTO", "unknown", "explained", "filler+words+question")


def test_no_text_of_the_corpus_that_is_not_a_give_records_one(store: ConsentStore,
                                                        catalog: Catalog) -> None:
    """Each text whose reading is not a give (every dangerous one among them), from its own
    LMT number, right after a near-miss give that waits for JĀ: one batch, one transaction;
    afterwards no number has a consent given."""
    dangerous = [c for c in cases() if c.expected.split()[0] not in ("give", "ask", "yes")]
    assert all(c.expected.split()[0] not in ("give", "ask", "yes") for c in cases()
               if c.danger)
    numbers = [f"3712{n:07d}" for n in range(1, len(dangerous) + 1)]
    store.import_subscribers([SubscriberRow(m, "lmt") for m in numbers])
    batch = []
    for n, (msisdn, case) in enumerate(zip(numbers, dangerous, strict=True)):
        at = T0 + timedelta(seconds=n)
        batch.append(req("unknown", None, msisdn=msisdn, text="vietu", at=at, seq=1,
                         event_id=f"{msisdn}-ask"))
        batch.append(req("unknown", None, msisdn=msisdn, text=case.text, seq=2,
                         at=at + timedelta(seconds=1), event_id=f"{msisdn}-text"))
    applied = store.apply_batch(batch, catalog=catalog)
    asked = [a for a in applied if a.event_id.endswith("-ask")]
    assert {a.outcome for a in asked} == {Outcome.CONFIRM_ASKED}
    given = [(c.text, a.outcome) for c, a in zip(
        dangerous, [a for a in applied if a.event_id.endswith("-text")], strict=True)
        if a.outcome in (Outcome.GIVEN, Outcome.ALREADY_GIVEN)]
    assert given == []
    for msisdn in numbers[:: max(1, len(numbers) // 20)]:
        state = store.state(msisdn)
        assert all(s.status != "given" for s in state.consents.values()), msisdn
