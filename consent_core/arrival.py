"""Which of a number's words came last, and what a text that may be a redelivery is.

Two rules of docs/guarantees.md ("Order", "Redelivery"), as pure functions over plain
values so every edge (gateway, queue, store) applies the same ones:

- **Last word by arrival.** Every change carries a ``Stamp``: when it reached us (a text:
  when its deliver_sm arrived at a gateway, the gateway's clock; an operator's or the
  API's change: when it was taken) and, for texts, the ingest sequence Redis gave it when
  it was queued (which only breaks ties of equal instants). A consent follows the change
  with the latest stamp, whatever order the changes were applied in: one older than the
  newest already applied is recorded as ``superseded``.
- **Ambiguous redelivery, decided on the safe side.** A byte-identical text matching a
  pending entry the SMSC never had a positive answer for, after the number sent something
  else, is either the SMSC's redelivery or the person typing it again. A withdrawal is
  applied (and marked as a possible redelivery of the entry); anything else is taken for
  the redelivery (a give applied twice could record a consent after a later "no").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from consent_core.model import Outcome
from consent_core.understand import Intent, Matcher

# The smsc detail (and ledger) key naming the pending entry's event a text may redeliver.
POSSIBLE_REDELIVERY_OF = "possible_redelivery_of"


@dataclass(frozen=True, slots=True)
class Stamp:
    """Where a change stands in its number's order: ``at`` first, then ``seq``.

    ``at`` is None only for state written before stamps were kept (then ``seq`` alone
    orders, as it did); ``seq`` is None for changes that did not come through the queue.
    """

    at: datetime | None
    seq: int | None = None

    def before(self, other: Stamp | None) -> bool:
        """Whether this change came strictly before ``other`` (False when it cannot be
        told: nothing known of ``other``, or equal instants without two sequences)."""
        if other is None:
            return False
        if self.at is not None and other.at is not None and self.at != other.at:
            return self.at < other.at
        if self.seq is not None and other.seq is not None:
            return self.seq < other.seq
        return False


def latest(a: Stamp | None, b: Stamp) -> Stamp:
    """The later of two stamps (``b`` when they cannot be told apart)."""
    if a is None or a.before(b):
        return b
    if b.before(a):
        return a
    # Equal instants: keep the larger sequence, so a tie is never undone by a smaller one.
    seqs = [s for s in (a.seq, b.seq) if s is not None]
    return Stamp(b.at if b.at is not None else a.at, max(seqs) if seqs else None)


def superseded_answer(in_force: Iterable[str]) -> tuple[Outcome, tuple[str, ...]]:
    """The reply to a text that came too late to change anything: what is in force now
    (the bare STOP's answer), so the subscriber learns what their newer word left."""
    listed = tuple(in_force)
    return (Outcome.STOP_INFO, listed) if listed else (Outcome.NONE_IN_FORCE, ())


class Redelivery(StrEnum):
    """What a text matching a pending entry (same number, coding and octets) is."""

    REDELIVERY = "redelivery"  # acknowledged, not queued again
    NEW = "new"  # queued as a text of its own
    POSSIBLE = "possible"  # queued, marked as a possible redelivery of the entry


def redelivery_verdict(*, unanswered: bool, later_text: bool, withdrawal: bool) -> Redelivery:
    """Decide a text that matches a pending entry within the redelivery window.

    ``unanswered``: the SMSC never had a positive answer for the entry (its deliver_sm_resp
    was never written, or its enqueue's outcome is unknown), so it must redeliver it.
    ``later_text``: the number has had a later text queued since the entry's.
    ``withdrawal``: the text withdraws.

    While the entry is still the number's latest text, a matching text is its redelivery.
    After a later text, an entry the SMSC may have had the answer for matches nothing (the
    same words again are new); an unanswered one is ambiguous, decided on the safe side.
    """
    if not later_text:
        return Redelivery.REDELIVERY
    if not unanswered:
        return Redelivery.NEW
    return Redelivery.POSSIBLE if withdrawal else Redelivery.REDELIVERY


@cache
def _reader() -> Matcher:
    # The keywords without the catalog's inflected forms: the queue has no catalog, and a
    # form the worker would understand only widens what counts as a withdrawal there.
    return Matcher()


def withdraws(action: str, text: str | None) -> bool:
    """Whether a text queued with ``action`` (the gateway's exact reading) withdraws: an
    exact withdrawal, or a text the worker will read as one (a near miss, VISS STOP)."""
    if action == "withdraw":
        return True
    if action != "unknown" or text is None:
        return False
    return _reader().read(text).intent in (Intent.WITHDRAW, Intent.STOP_ALL)
