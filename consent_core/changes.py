"""The values every producer hands to the consent store, typed until they are serialised.

``ChangeRequest`` (a text or another channel's change; the store applies it) and the
delivery updates (``SubmitResult``, ``ReceiptUpdate``: what the SMSC said about a reply).
The gateway, the API, the console and ``consentctl`` build them, the queue carries them
(``to_dict``/``to_wire``), the workers read them back (``from_dict``/``parse_update``) and
the store takes them as they are. Nobody writes or parses dict literals of their own.
A leaf of the import graph: pure values, no Redis, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from consent_core.instants import as_utc, iso, parse_instant
from consent_core.model import CONSENTS


class BadRequest(ValueError):
    """A change request or import row that cannot be applied as given (re-exported as
    ``consent_store.BadRequest``)."""


REQUEST_ACTIONS = frozenset({"give", "withdraw", "unknown"})
# ``directory``: LMT's customer systems, through a directory sync or a subscriber PUT
# (handovers, lapses of numbers that left; docs/store.md "The directory").
CHANNELS = frozenset({"sms", "web", "customer_centre", "operator", "system", "directory"})
# On whose behalf a change is made, when not the line's user themselves (seed rule 5).
ON_BEHALF = frozenset({"guardian"})
# Channels where a guardian can be identified: in person at a customer centre (the seed:
# "jāsazinās ar LMT").
GUARDIAN_CHANNELS = frozenset({"customer_centre"})


def storable(text: str | None) -> str | None:
    """``text`` as both databases can hold it: NUL (PostgreSQL text cannot) and lone
    surrogates (not encodable as UTF-8, e.g. from a broken UCS2 pair) become U+FFFD.
    The exact bytes received are kept in ``raw_hex``."""
    if text is None:
        return None
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "\ufffd")


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One text from a phone, or one change from another channel (design.md)."""

    event_id: str
    msisdn: str
    action: str
    consent: str | None
    channel: str
    received_at: datetime
    ingest_seq: int | None = None
    text: str | None = None
    raw_hex: str | None = None
    data_coding: int | None = None
    correlation_id: str | None = None
    smsc: dict[str, Any] = field(default_factory=dict)
    # A back-dated entry: when the change was made (e.g. a paper form signed), earlier than
    # received_at (when it was entered). Recorded with both; never overrides a later change.
    effective_at: datetime | None = None
    on_behalf: str | None = None  # "guardian": a parent or guardian acted (minor's line)
    agent: str | None = None  # who entered it (customer-centre agent, operator)
    reference: str | None = None  # e.g. the paper form's number
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.event_id or len(self.event_id) > 200:
            raise BadRequest(f"event_id must be 1..200 characters, got {len(self.event_id)}")
        if not self.msisdn.isdigit() or not 3 <= len(self.msisdn) <= 15:
            raise BadRequest(f"event {self.event_id}: msisdn must be 3..15 digits")
        if self.action not in REQUEST_ACTIONS:
            raise BadRequest(f"event {self.event_id}: action {self.action!r} is not one of "
                             f"{sorted(REQUEST_ACTIONS)}")
        if self.action == "unknown":
            if self.consent is not None:
                raise BadRequest(f"event {self.event_id}: an unknown command has no consent")
        elif self.consent not in CONSENTS:
            raise BadRequest(f"event {self.event_id}: consent {self.consent!r} is not one of "
                             f"{', '.join(CONSENTS)}")
        if self.channel not in CHANNELS:
            raise BadRequest(f"event {self.event_id}: channel {self.channel!r} is not one of "
                             f"{sorted(CHANNELS)}")
        if self.correlation_id is not None and len(self.correlation_id) > 200:
            raise BadRequest(f"event {self.event_id}: correlation_id longer than 200")
        if "\x00" in self.event_id:
            raise BadRequest("event_id contains a NUL character")
        object.__setattr__(self, "received_at", as_utc(self.received_at))
        if self.effective_at is not None:
            object.__setattr__(self, "effective_at", as_utc(self.effective_at))
            if self.effective_at > self.received_at:
                raise BadRequest(f"event {self.event_id}: a change cannot be back-dated to "
                                 f"{iso(self.effective_at)}, after it was entered "
                                 f"({iso(self.received_at)})")
        if self.on_behalf is not None:
            if self.on_behalf not in ON_BEHALF:
                raise BadRequest(f"event {self.event_id}: on_behalf {self.on_behalf!r} is not "
                                 f"one of {sorted(ON_BEHALF)}")
            if self.channel not in GUARDIAN_CHANNELS:
                raise BadRequest(f"event {self.event_id}: a guardian acts through "
                                 f"{', '.join(sorted(GUARDIAN_CHANNELS))}, not {self.channel}")
        for name, limit in (("agent", 100), ("reference", 200)):
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise BadRequest(f"event {self.event_id}: {name} longer than {limit}")
            object.__setattr__(self, name, storable(value))
        object.__setattr__(self, "note", storable(self.note))
        object.__setattr__(self, "text", storable(self.text))
        object.__setattr__(self, "correlation_id", storable(self.correlation_id))

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "msisdn": self.msisdn,
            "action": self.action,
            "consent": self.consent,
            "channel": self.channel,
            "received_at": iso(self.received_at),
            "ingest_seq": self.ingest_seq,
            "text": self.text,
            "raw_hex": self.raw_hex,
            "data_coding": self.data_coding,
            "correlation_id": self.correlation_id,
            "smsc": dict(self.smsc),
            "effective_at": iso(self.effective_at),
            "on_behalf": self.on_behalf,
            "agent": self.agent,
            "reference": self.reference,
            "note": self.note,
        }

    def sequenced(self, ingest_seq: int) -> ChangeRequest:
        """This request with its number's ingest sequence (assigned where every gateway's
        texts meet, consent_queue.events). A copy of the fields, already validated: the
        gateway does this for every text, and ``dataclasses.replace`` (which validates
        again) costs four times as much."""
        new = object.__new__(ChangeRequest)
        for name in self.__slots__:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "ingest_seq", ingest_seq)
        return new

    @property
    def happened_at(self) -> datetime:
        """When the change was made: ``effective_at`` for a back-dated entry."""
        return self.effective_at or self.received_at

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeRequest:
        """Build from the queue's dict; unknown keys are ignored (newer producers)."""
        try:
            received = data["received_at"]
            return cls(
                event_id=str(data["event_id"]),
                msisdn=str(data["msisdn"]),
                action=str(data["action"]),
                consent=data.get("consent"),
                channel=str(data["channel"]),
                received_at=received if isinstance(received, datetime)
                else parse_instant(str(received)),
                ingest_seq=None if data.get("ingest_seq") is None else int(data["ingest_seq"]),
                text=data.get("text"),
                raw_hex=data.get("raw_hex"),
                data_coding=None if data.get("data_coding") is None
                else int(data["data_coding"]),
                correlation_id=data.get("correlation_id"),
                smsc=dict(data.get("smsc") or {}),
                effective_at=None if data.get("effective_at") is None
                else parse_instant(str(data["effective_at"])),
                on_behalf=data.get("on_behalf"),
                agent=data.get("agent"),
                reference=data.get("reference"),
                note=data.get("note"),
            )
        except KeyError as exc:
            raise BadRequest(f"change request lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"change request {data.get('event_id')!r}: {exc}") from None


class BadUpdate(ValueError):
    """A delivery update that does not follow the schema."""


class UpdateKind(StrEnum):
    """What a delivery update reports (its ``kind`` on the wire)."""

    SUBMIT = "submit"
    RECEIPT = "receipt"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The SMSC accepted (status "0x00", message_id set) or finally refused a reply."""

    event_id: str
    message_id: str | None
    status: str  # "0x%02X" of the last submit_sm_resp command_status
    at: datetime
    smsc: str = ""  # host:port/system_id of the SMSC that accepted it

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at))

    def to_wire(self) -> dict[str, Any]:
        return {"kind": UpdateKind.SUBMIT.value, "event_id": self.event_id,
                "message_id": self.message_id, "status": self.status, "at": iso(self.at),
                "smsc": self.smsc}


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A delivery receipt: which message id, its final state, and where it came from —
    the SMSC (host:port/system_id) and the number the reply was sent to, so that a message
    id repeated by another SMSC or after a restart cannot be matched to the wrong reply."""

    message_id: str
    stat: str
    at: datetime
    smsc: str = ""
    msisdn: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", as_utc(self.at))

    def to_wire(self) -> dict[str, Any]:
        return {"kind": UpdateKind.RECEIPT.value, "message_id": self.message_id,
                "stat": self.stat, "at": iso(self.at), "smsc": self.smsc,
                "msisdn": self.msisdn}


DeliveryUpdate = SubmitResult | ReceiptUpdate


def parse_update(data: Any) -> DeliveryUpdate:
    """A delivery update from the wire; raises ``BadUpdate``."""
    if not isinstance(data, dict):
        raise BadUpdate(f"not an object: {type(data).__name__}")
    kind = data.get("kind")
    try:
        if kind == UpdateKind.SUBMIT:
            mid = data.get("message_id")
            return SubmitResult(str(data["event_id"]), None if mid is None else str(mid),
                                str(data["status"]), parse_instant(str(data["at"])),
                                str(data.get("smsc", "")))
        if kind == UpdateKind.RECEIPT:
            return ReceiptUpdate(str(data["message_id"]), str(data["stat"]),
                                 parse_instant(str(data["at"])), str(data.get("smsc", "")),
                                 str(data.get("msisdn", "")))
    except KeyError as exc:
        raise BadUpdate(f"{kind} update without {exc.args[0]}") from None
    except ValueError as exc:
        raise BadUpdate(f"{kind} update: {exc}") from None
    raise BadUpdate(f"unknown kind {kind!r}")
