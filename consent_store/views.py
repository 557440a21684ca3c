"""Read-side values returned by the store: a number's consents, its ledger entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent_core.model import CONSENTS
from consent_store.timeutil import iso


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    status: str  # given / withdrawn / lapsed / none
    since: datetime | None = None
    channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "since": iso(self.since), "channel": self.channel}


NONE = ConsentStatus("none")


@dataclass(frozen=True, slots=True)
class NumberState:
    """The five consents of one number (now, or at ``at``), as ``consentctl show`` prints."""

    msisdn: str
    client_group: str | None
    independent: bool | None
    consents: dict[str, ConsentStatus]
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        # SPEC §7: every one of the five consents is present, in the seed's order.
        return {
            "msisdn": self.msisdn,
            "client_group": self.client_group,
            "consents": {c: self.consents.get(c, NONE).to_dict() for c in CONSENTS},
        }


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger row. After erasure ``msisdn`` is the pseudonym and the texts are None."""

    id: int
    event_id: str
    msisdn: str
    consent: str | None
    action: str
    outcome: str
    channel: str
    received_at: datetime
    applied_at: datetime
    ingest_seq: int | None
    text: str | None
    raw_hex: str | None
    data_coding: int | None
    smsc: dict[str, Any] | None
    correlation_id: str | None
    catalog_version: str | None
    description_version: str | None
    reply_text: str | None
    reason: str | None
    understood: str | None = None
    match_rule: str | None = None
    confirms_event_id: str | None = None
    confirmed_text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "event_id": self.event_id, "msisdn": self.msisdn,
            "consent": self.consent, "action": self.action, "outcome": self.outcome,
            "channel": self.channel, "received_at": iso(self.received_at),
            "applied_at": iso(self.applied_at), "ingest_seq": self.ingest_seq,
            "text": self.text, "raw_hex": self.raw_hex, "data_coding": self.data_coding,
            "smsc": self.smsc, "correlation_id": self.correlation_id,
            "catalog_version": self.catalog_version,
            "description_version": self.description_version,
            "reply_text": self.reply_text, "reason": self.reason,
            "understood": self.understood, "match_rule": self.match_rule,
            "confirms_event_id": self.confirms_event_id, "confirmed_text": self.confirmed_text,
        }


@dataclass(frozen=True, slots=True)
class LapseCandidate:
    """A JAUNUMI consent lapsed (or, in a dry run, due to lapse)."""

    msisdn: str
    since: datetime | None
    last_activity_at: datetime | None
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"msisdn": self.msisdn, "since": iso(self.since),
                "last_activity_at": iso(self.last_activity_at), "event_id": self.event_id}


@dataclass(frozen=True, slots=True)
class ErasureReport:
    msisdn: str
    pseudonym: str
    event_id: str
    events_pseudonymised: int
    replies_deleted: int
    consents_cleared: int
    subscriber_deleted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"msisdn": self.msisdn, "pseudonym": self.pseudonym, "event_id": self.event_id,
                "events_pseudonymised": self.events_pseudonymised,
                "replies_deleted": self.replies_deleted,
                "consents_cleared": self.consents_cleared,
                "subscriber_deleted": self.subscriber_deleted}


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A directory entry (SPEC §7 import: msisdn, client_group, independent)."""

    msisdn: str
    client_group: str
    independent: bool = True
