"""The one place where the outcome of a requested change is computed."""

from __future__ import annotations

from consent_core.model import Eligibility, Outcome, Status


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
    if outcome is Outcome.LAPSED:
        return Status.LAPSED
    return current
