"""Plain values of the consent domain, shared by every package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# The five consents of the seed's table, in the order the seed lists them.
CONSENTS: Final[tuple[str, ...]] = ("JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA")


class Action(StrEnum):
    GIVE = "give"
    WITHDRAW = "withdraw"
    UNKNOWN = "unknown"
    LAPSE = "lapse"
    RESET = "reset"


class Status(StrEnum):
    """Current status of one consent of one number (SPEC §7 `consentctl show`)."""

    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    LAPSED = "lapsed"
    NONE = "none"


class Eligibility(StrEnum):
    ALLOWED = "allowed"
    NOT_LMT_CLIENT = "not_lmt_client"
    NOT_INDEPENDENT = "not_independent"


class Outcome(StrEnum):
    GIVEN = "given"
    ALREADY_GIVEN = "already_given"
    WITHDRAWN = "withdrawn"
    ALREADY_WITHDRAWN = "already_withdrawn"
    REFUSED_NOT_LMT_CLIENT = "refused_not_lmt_client"
    REFUSED_NOT_INDEPENDENT = "refused_not_independent"
    UNKNOWN_COMMAND = "unknown_command"
    # What subscribers type besides a command (docs/commands.md): asked for help; a bare
    # STOP answered with what is in force (or that nothing is); a near-miss give waiting
    # for JĀ, declined with NĒ, or a JĀ/NĒ with nothing waiting.
    HELP = "help"
    STOP_INFO = "stop_info"
    NONE_IN_FORCE = "none_in_force"
    CONFIRM_ASKED = "confirm_asked"
    CONFIRM_DECLINED = "confirm_declined"
    NOTHING_TO_CONFIRM = "nothing_to_confirm"
    # The one reply to a text that withdraws several consents (VISS STOP, VIETA STOP AUTO
    # STOP); its ledger rows are `withdrawn`/`already_withdrawn`, one per consent.
    ALL_WITHDRAWN = "all_withdrawn"
    PARTLY_WITHDRAWN = "partly_withdrawn"
    NONE_WITHDRAWN = "none_withdrawn"
    # A question about a consent ("VIETA?", "kas ir VIETA"): its meaning, nothing changes.
    EXPLAINED = "explained"
    SUPERSEDED = "superseded"
    LAPSED = "lapsed"
    RESET = "reset"
    # A consent only LMT's clients may give, fulfilled because the number left LMT's
    # directory (ported or closed; docs/store.md "Numbers that leave"): status lapsed.
    LEFT = "left"


@dataclass(frozen=True, slots=True)
class Give:
    consent: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    consent: str


@dataclass(frozen=True, slots=True)
class Unknown:
    text: str


Command = Give | Withdraw | Unknown

# Outcomes after which the consent is in force.
IN_FORCE: Final[frozenset[Status]] = frozenset({Status.GIVEN})


class ConsentCoreError(Exception):
    """Root of the core's exceptions (programming or configuration errors, never outcomes)."""


# Outcomes that are answered with a reply SMS of their own; the others are recorded only,
# except a superseded text, answered with what is in force (arrival.superseded_answer).
REPLIED: Final[frozenset[Outcome]] = frozenset(
    {
        Outcome.GIVEN,
        Outcome.ALREADY_GIVEN,
        Outcome.WITHDRAWN,
        Outcome.ALREADY_WITHDRAWN,
        Outcome.REFUSED_NOT_LMT_CLIENT,
        Outcome.REFUSED_NOT_INDEPENDENT,
        Outcome.UNKNOWN_COMMAND,
        Outcome.HELP,
        Outcome.STOP_INFO,
        Outcome.NONE_IN_FORCE,
        Outcome.CONFIRM_ASKED,
        Outcome.CONFIRM_DECLINED,
        Outcome.NOTHING_TO_CONFIRM,
        Outcome.ALL_WITHDRAWN,
        Outcome.PARTLY_WITHDRAWN,
        Outcome.NONE_WITHDRAWN,
        Outcome.EXPLAINED,
    }
)

# Answered outcomes whose reply names no consent.
NO_CONSENT: Final[frozenset[Outcome]] = frozenset(
    {Outcome.UNKNOWN_COMMAND, Outcome.HELP, Outcome.NONE_IN_FORCE, Outcome.NOTHING_TO_CONFIRM}
)
# Answered outcomes whose reply lists several consents ({consents}; {consent} is the first).
MANY_CONSENTS: Final[frozenset[Outcome]] = frozenset(
    {Outcome.STOP_INFO, Outcome.ALL_WITHDRAWN, Outcome.PARTLY_WITHDRAWN, Outcome.NONE_WITHDRAWN})
# The one reply that lists two groups: {consents} withdrawn now, {others} not in force.
TWO_LISTS: Final[frozenset[Outcome]] = frozenset({Outcome.PARTLY_WITHDRAWN})

# Client groups of the subscriber directory (SPEC §7 `consentctl subscribers import`).
CLIENT_GROUPS: Final[frozenset[str]] = frozenset({"lmt", "other"})
