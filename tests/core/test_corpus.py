"""The corpus (tests/core/corpus.py): every text gets its reading, no "no" becomes a give.

The store applies what `decide_text` plans, so a plan with no give is a text that records
no consent; tests/store/test_corpus_store.py runs the dangerous ones through the store.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core.catalog import load_catalog
from consent_core.decide import decide_text
from consent_core.model import CONSENTS, Eligibility, Status
from consent_core.understand import Intent, Matcher, Reading
from tests.core.corpus import cases

MATCHER = Matcher.for_catalog(load_catalog())
CASES = cases()
ALLOWED = {k: Eligibility.ALLOWED for k in CONSENTS}
STATES = [{k: s for k in CONSENTS} for s in (Status.NONE, Status.GIVEN, Status.WITHDRAWN)]


def expected_of(reading: Reading) -> str:
    if reading.intent is Intent.GIVE:
        return f"{'ask' if reading.near_miss else 'give'} {reading.consent}"
    if reading.intent in (Intent.WITHDRAW, Intent.EXPLAIN):
        return f"{reading.intent.value} {' '.join(reading.consents)}"
    return {Intent.STOP_ALL: "all"}.get(reading.intent, reading.intent.value)


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 400
    kinds = {c.expected.split()[0] for c in CASES}
    assert kinds == {"give", "ask", "withdraw", "all", "stop_info", "explain", "help", "yes",
                     "no", "unknown"}
    assert sum(c.danger for c in CASES) >= 250


def test_every_text_gets_its_reading() -> None:
    wrong = [(c.text, c.expected, expected_of(r)) for c in CASES
             if expected_of(r := MATCHER.read(c.text)) != c.expected]
    assert wrong == []


def test_no_dangerous_text_plans_a_give() -> None:
    """Whatever the number's state, and even with a near-miss give waiting for JĀ."""
    gives = []
    for case in (c for c in CASES if c.danger):
        reading = MATCHER.read(case.text)
        if reading.intent in (Intent.GIVE, Intent.YES):
            gives.append((case.text, reading.intent.value))
        for status in STATES:
            for pending in (None, "VIETA"):
                plan = decide_text(reading, status, ALLOWED, pending)
                if any(action == "give" for action, _ in plan.apply):
                    gives.append((case.text, str(plan)))
    assert gives == []


def test_every_clear_withdrawal_withdraws_each_consent_it_names() -> None:
    missed = []
    for case in (c for c in CASES if c.expected.startswith("withdraw")):
        plan = decide_text(MATCHER.read(case.text), STATES[1], ALLOWED, None)
        if plan.apply != tuple(("withdraw", k) for k in case.expected.split()[1:]):
            missed.append((case.text, plan.apply))
    assert missed == []


# --- adding a negation never produces a give ------------------------------------------

NEGATIONS = ["NE", "nē", "negribu", "nevēlos", "STOP", "🚫", "🛑", "❌", "👎", "not", "don't",
             "НЕ", "СТОП", "UNSUBSCRIBE", "CANCEL", "atsaukt", "Nepiekrītu", "no"]


@st.composite
def negated(draw: st.DrawFn) -> str:
    base = draw(st.one_of(st.sampled_from([c.text for c in CASES]), st.text(max_size=30)))
    words = base.split(" ")
    negation = draw(st.sampled_from(NEGATIONS))
    at = draw(st.integers(0, len(words)))
    if draw(st.booleans()) and negation.isalpha() and at < len(words):
        words[at] = "NE" + words[at]  # glued, as a phone may drop the space
    else:
        words.insert(at, negation)
    return " ".join(words)


@settings(max_examples=600, deadline=None)
@given(negated())
def test_adding_a_negation_to_any_text_never_produces_a_give(text: str) -> None:
    reading = MATCHER.read(text)
    assert reading.intent not in (Intent.GIVE, Intent.YES), (text, reading)
