"""The one place where the outcome of a requested change is computed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from consent_core.model import IN_FORCE, Eligibility, Outcome, Status
from consent_core.understand import Intent, Reading


def decide(current: Status, action: str, eligibility: Eligibility) -> Outcome:
    """Outcome of ``action`` (``give``/``withdraw``) on a consent whose status is ``current``.

    Withdrawal is always allowed, whoever asks (ePrivacy Art. 6(3): withdrawable at any time
    by simple means); only giving is subject to eligibility (seed: "tikai LMT klientiem",
    and consents are for persons who can act independently).
    """
    if action == "withdraw":
        return Outcome.WITHDRAWN if current is Status.GIVEN else Outcome.ALREADY_WITHDRAWN
    if action != "give":
        return Outcome.UNKNOWN_COMMAND
    if eligibility is Eligibility.NOT_INDEPENDENT:
        return Outcome.REFUSED_NOT_INDEPENDENT
    if eligibility is Eligibility.NOT_LMT_CLIENT:
        return Outcome.REFUSED_NOT_LMT_CLIENT
    return Outcome.ALREADY_GIVEN if current is Status.GIVEN else Outcome.GIVEN


def status_after(current: Status, outcome: Outcome) -> Status:
    """The consent's status once ``outcome`` has been applied."""
    if outcome is Outcome.GIVEN:
        return Status.GIVEN
    if outcome is Outcome.WITHDRAWN or outcome is Outcome.RESET:
        return Status.WITHDRAWN
    if outcome is Outcome.LAPSED or outcome is Outcome.LEFT:
        return Status.LAPSED
    return current


# --- what a text read by the near-miss reader does (consent_core.understand) ---------------

DEFAULT_CONFIRM_WINDOW: Final[timedelta] = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class TextPlan:
    """What to do with one subscriber text, given the number's state at apply time.

    ``apply``: the (action, consent) changes to apply, in order, each a ledger event through
    `decide`; when empty, the text changes nothing and is recorded with ``outcome``.
    ``reply``: the outcome whose reply answers the text when it is not the outcome of
    the (single) change itself; ``consent`` is the consent the answer names.
    """

    apply: tuple[tuple[str, str], ...] = ()
    outcome: Outcome | None = None
    consent: str | None = None
    reply: Outcome | None = None
    listed: tuple[str, ...] = ()


def decide_text(reading: Reading, status: Mapping[str, Status],
                eligibility: Mapping[str, Eligibility], pending: str | None) -> TextPlan:
    """The plan for ``reading`` when the number's consents stand at ``status``, its
    eligibility per consent is ``eligibility`` and ``pending`` is the consent of a near-miss
    give still waiting for JĀ (None when there is none, or its time has passed).

    A near-miss withdrawal is applied at once (GDPR Art. 7(3)); a near-miss give that would
    be applied waits for JĀ; one that would change nothing (already given, refused) is
    answered at once, since a confirmation could not change the answer.
    """
    in_force = tuple(k for k, s in status.items() if s in IN_FORCE)
    intent, consent = reading.intent, reading.consent
    if intent is Intent.WITHDRAW and consent is not None:
        # Several consents named: each withdrawn in the order written, one reply.
        return TextPlan(apply=tuple(("withdraw", k) for k in reading.consents),
                        reply=Outcome.ALL_WITHDRAWN if reading.more else None,
                        listed=reading.consents if reading.more else ())
    if intent is Intent.EXPLAIN and consent is not None:
        return TextPlan(outcome=Outcome.EXPLAINED, consent=consent)
    if intent is Intent.GIVE and consent is not None:
        if not reading.near_miss:
            return TextPlan(apply=(("give", consent),))
        would = decide(status.get(consent, Status.NONE), "give",
                       eligibility.get(consent, Eligibility.ALLOWED))
        if would is Outcome.GIVEN:
            return TextPlan(outcome=Outcome.CONFIRM_ASKED, consent=consent)
        return TextPlan(outcome=would, consent=consent)
    if intent is Intent.YES:
        if pending is None:
            return TextPlan(outcome=Outcome.NOTHING_TO_CONFIRM)
        return TextPlan(apply=(("give", pending),))
    if intent is Intent.NO:
        if pending is None:
            return TextPlan(outcome=Outcome.NOTHING_TO_CONFIRM)
        return TextPlan(outcome=Outcome.CONFIRM_DECLINED, consent=pending)
    if intent is Intent.STOP_INFO:
        if not in_force:
            return TextPlan(outcome=Outcome.NONE_IN_FORCE)
        return TextPlan(outcome=Outcome.STOP_INFO, listed=in_force)
    if intent is Intent.STOP_ALL:
        if not in_force:
            return TextPlan(outcome=Outcome.NONE_IN_FORCE)
        return TextPlan(apply=tuple(("withdraw", k) for k in in_force),
                        reply=Outcome.ALL_WITHDRAWN, listed=in_force)
    if intent is Intent.HELP:
        return TextPlan(outcome=Outcome.HELP)
    return TextPlan(outcome=Outcome.UNKNOWN_COMMAND)


@dataclass(frozen=True, slots=True)
class Answer:
    """The one reply to a text that withdrew several consents: its outcome and lists."""

    outcome: Outcome
    consents: tuple[str, ...] = ()
    others: tuple[str, ...] = ()


def withdrawals_answer(done: tuple[tuple[str, Outcome], ...], *, everything: bool) -> Answer:
    """The reply to a text that withdrew several consents (``done``: each consent and its
    outcome, in the order applied); ``everything`` for VISS STOP, which names no consent."""
    withdrawn = tuple(k for k, o in done if o is Outcome.WITHDRAWN)
    unchanged = tuple(k for k, o in done if o is not Outcome.WITHDRAWN)
    if withdrawn and unchanged:
        return Answer(Outcome.PARTLY_WITHDRAWN, withdrawn, unchanged)
    if withdrawn:
        return Answer(Outcome.ALL_WITHDRAWN, withdrawn)
    if everything or not unchanged:
        return Answer(Outcome.NONE_IN_FORCE)
    return Answer(Outcome.NONE_WITHDRAWN, unchanged)
