"""Read-side values returned by the store: a number's consents, its ledger entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from consent_core.model import CONSENTS
from consent_store.chain import Break, verify_chain
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
    entered_at: datetime | None = None
    on_behalf: str | None = None
    agent: str | None = None
    reference: str | None = None
    note: str | None = None
    description_digest: str | None = None
    salt: str | None = None
    personal_digest: str | None = None
    chain_id: str | None = None
    chain_seq: int | None = None
    chain_prev: str | None = None
    chain_hash: str | None = None
    understood: str | None = None
    match_rule: str | None = None
    confirms_event_id: str | None = None
    confirmed_text: str | None = None
    position: int | None = None  # the feed's and the proof log's order (0015)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "position": self.position, "event_id": self.event_id, "msisdn": self.msisdn,
            "consent": self.consent, "action": self.action, "outcome": self.outcome,
            "channel": self.channel, "received_at": iso(self.received_at),
            "applied_at": iso(self.applied_at), "ingest_seq": self.ingest_seq,
            "text": self.text, "raw_hex": self.raw_hex, "data_coding": self.data_coding,
            "smsc": self.smsc, "correlation_id": self.correlation_id,
            "catalog_version": self.catalog_version,
            "description_version": self.description_version,
            "reply_text": self.reply_text, "reason": self.reason,
            "entered_at": iso(self.entered_at), "on_behalf": self.on_behalf,
            "agent": self.agent, "reference": self.reference, "note": self.note,
            "description_digest": self.description_digest,
            # The chain values (docs/store.md, "Hash chain"): with them and the fields above
            # a third party can recompute this row's hash.
            "chain": {"id": self.chain_id, "seq": self.chain_seq, "prev": self.chain_prev,
                      "hash": self.chain_hash, "personal_digest": self.personal_digest,
                      "salt": self.salt},
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
    contacts_deleted: int
    # The directory row is LMT's, not the subscriber's: kept (docs/store.md, "Erasure").
    directory_kept: bool

    def to_dict(self) -> dict[str, Any]:
        return {"msisdn": self.msisdn, "pseudonym": self.pseudonym, "event_id": self.event_id,
                "events_pseudonymised": self.events_pseudonymised,
                "replies_deleted": self.replies_deleted,
                "consents_cleared": self.consents_cleared,
                "contacts_deleted": self.contacts_deleted,
                "directory_kept": self.directory_kept}


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """A directory entry (SPEC §7 import: msisdn, client_group, independent; a sync adds
    the holder reference, None when the file does not say)."""

    msisdn: str
    client_group: str
    independent: bool = True
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify`` found: how much it checked and the first row that does not verify."""

    chains: int
    rows: int
    first_break: Break | None
    broken_chains: int

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def to_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "chains": self.chains, "rows": self.rows,
                "broken_chains": self.broken_chains,
                "first_break": None if self.first_break is None else self.first_break.to_dict()}


def verify_rows(rows: Iterable[dict[str, Any]], heads: dict[str, dict[str, Any]]) -> VerifyReport:
    """Verify ledger rows given in chain order against the chain heads."""
    first: Break | None = None
    broken = chains = count = 0
    seen: set[str] = set()
    for chain_id, group in groupby(rows, key=lambda r: r["chain_id"]):
        chains += 1
        members = list(group)
        count += len(members)
        if chain_id is None:
            found: Break | None = Break("-", members[0]["event_id"], None,
                                        "row is in no chain (written outside the store)")
        else:
            seen.add(chain_id)
            found = verify_chain(chain_id, members, heads.get(chain_id))
        if found is not None:
            broken += 1
            first = first or found
    for chain_id in sorted(heads.keys() - seen):
        broken += 1
        first = first or Break(chain_id, None, 0, "every row of this chain was removed")
    return VerifyReport(chains, count, first, broken)
