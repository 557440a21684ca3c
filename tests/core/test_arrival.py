"""consent_core.arrival: the order of a number's words, and ambiguous redeliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_core.arrival import (
    Redelivery,
    Stamp,
    latest,
    redelivery_verdict,
    superseded_answer,
)
from consent_core.model import Outcome

T = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@pytest.mark.parametrize(("a", "b", "before"), [
    (Stamp(T, 5), Stamp(T + MS, 1), True),  # the instant decides, not the sequence
    (Stamp(T + MS, 1), Stamp(T, 5), False),
    (Stamp(T, 4), Stamp(T, 5), True),  # equal instants: the ingest sequence
    (Stamp(T, 5), Stamp(T, 5), False),
    (Stamp(T, None), Stamp(T, 5), False),  # equal instants, one without a sequence: a tie
    (Stamp(T, None), Stamp(T + MS, None), True),  # operator changes: by when taken
    (Stamp(None, 4), Stamp(T, 5), True),  # state from before stamps: the sequence alone
    (Stamp(None, 6), Stamp(T, 5), False),
    (Stamp(None, None), Stamp(T, 5), False),
])
def test_before(a: Stamp, b: Stamp, before: bool) -> None:
    assert a.before(b) is before


def test_nothing_known_is_never_later() -> None:
    assert not Stamp(T, 1).before(None)
    assert latest(None, Stamp(T, 1)) == Stamp(T, 1)


@pytest.mark.parametrize(("a", "b", "want"), [
    (Stamp(T, 9), Stamp(T + MS, 1), Stamp(T + MS, 1)),
    (Stamp(T + MS, 1), Stamp(T, 9), Stamp(T + MS, 1)),
    (Stamp(T, None), Stamp(T, 3), Stamp(T, 3)),
    (Stamp(T, 3), Stamp(T, None), Stamp(T, 3)),  # a tie never lowers the sequence
    (Stamp(None, 3), Stamp(T, None), Stamp(T, 3)),
])
def test_latest(a: Stamp, b: Stamp, want: Stamp) -> None:
    assert latest(a, b) == want


stamps = st.builds(Stamp, st.integers(0, 5).map(lambda s: T + s * MS),
                   st.one_of(st.none(), st.integers(0, 5)))


@given(stamps, stamps, stamps)
def test_before_is_a_strict_order(a: Stamp, b: Stamp, c: Stamp) -> None:
    assert not a.before(a)
    assert not (a.before(b) and b.before(a))
    if a.at != b.at and b.at != c.at and a.before(b) and b.before(c):
        assert a.before(c)


@given(st.lists(stamps, min_size=1, max_size=8))
def test_latest_of_any_order_is_never_before_any_of_them(seen: list[Stamp]) -> None:
    """Whatever order changes are applied in, what a consent remembers is the latest."""
    last: Stamp | None = None
    for s in seen:
        last = latest(last, s)
    assert last is not None and not any(last.before(s) for s in seen)


@pytest.mark.parametrize(("unanswered", "later_text", "withdrawal", "verdict"), [
    # Still the number's latest text: the SMSC's redelivery, whatever it says.
    (True, False, True, Redelivery.REDELIVERY),
    (True, False, False, Redelivery.REDELIVERY),
    (False, False, True, Redelivery.REDELIVERY),
    (False, False, False, Redelivery.REDELIVERY),
    # After a later text, an entry the SMSC may have had the answer for: typed anew.
    (False, True, True, Redelivery.NEW),
    (False, True, False, Redelivery.NEW),
    # After a later text, an entry the SMSC must redeliver: ambiguous, the safe side —
    # a withdrawal is applied (marked), a give is not applied twice.
    (True, True, True, Redelivery.POSSIBLE),
    (True, True, False, Redelivery.REDELIVERY),
])
def test_redelivery_verdict(unanswered: bool, later_text: bool, withdrawal: bool,
                            verdict: Redelivery) -> None:
    assert redelivery_verdict(unanswered=unanswered, later_text=later_text,
                              withdrawal=withdrawal) is verdict


@given(st.booleans(), st.booleans())
def test_a_text_that_is_no_withdrawal_is_never_applied_as_a_possible_redelivery(
        unanswered: bool, later_text: bool) -> None:
    assert redelivery_verdict(unanswered=unanswered, later_text=later_text,
                              withdrawal=False) is not Redelivery.POSSIBLE


def test_superseded_answer_tells_what_is_in_force() -> None:
    assert superseded_answer(["JAUNUMI", "VIETA"]) == (Outcome.STOP_INFO, ("JAUNUMI", "VIETA"))
    assert superseded_answer([]) == (Outcome.NONE_IN_FORCE, ())
