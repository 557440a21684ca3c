"""The values that cross into and out of the store: ``ChangeRequest`` and ``AppliedChange``.

``ChangeRequest`` is defined once, with the other values producers hand to the store
(``consent_core.changes``), and re-exported here. Both travel as JSON-able dicts
(``to_dict``/``from_dict``) on the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consent_core.changes import (
    CHANNELS,
    GUARDIAN_CHANNELS,
    ON_BEHALF,
    REQUEST_ACTIONS,
    ChangeRequest,
    storable,
)
from consent_core.model import Outcome

__all__ = ["CHANNELS", "GUARDIAN_CHANNELS", "ON_BEHALF", "REQUEST_ACTIONS", "AppliedChange",
           "ChangeRequest", "storable"]


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """What became of one request. ``replayed``: the event id was already in the ledger and
    this is its first outcome; nothing changed. ``reply_text``: the confirmation to send
    (None when none is due, e.g. ``superseded``)."""

    event_id: str
    msisdn: str
    consent: str | None
    outcome: Outcome
    replayed: bool = False
    reply_text: str | None = None
    reason: str | None = None  # why it was not applied (e.g. a superseded back-dated entry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "msisdn": self.msisdn,
            "consent": self.consent,
            "outcome": self.outcome.value,
            "replayed": self.replayed,
            "reply_text": self.reply_text,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppliedChange:
        return cls(
            event_id=str(data["event_id"]),
            msisdn=str(data["msisdn"]),
            consent=data.get("consent"),
            outcome=Outcome(data["outcome"]),
            replayed=bool(data.get("replayed", False)),
            reply_text=data.get("reply_text"),
            reason=data.get("reason"),
        )
