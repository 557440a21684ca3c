"""Plain values of the simulator: its configuration, faults, MOs in flight, captured replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from smpp import codec
from smpp import constants as c

LongMode = Literal["udh", "payload"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Defaults match ``config/gateway.example.toml`` so a gateway binds out of the box."""

    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "consentgw"
    password: str = "secret"  # noqa: S105 - the documented test default, not a secret
    short_number: str = "29307777"
    receipts: bool = True
    receipt_mix: str = "DELIVRD=100"  # smsc_sim/receipts.py: DELIVRD=80,UNDELIV=20, …
    receipt_delay: float = 0.0  # seconds from submit_sm_resp to its receipt
    # Unacknowledged deliver_sm allowed per receiving bind. Kannel keeps 10 submits in
    # flight; a window of 100 lets a fast ESME batch its acknowledgements (SMPP 3.4 §2.8
    # lets either side keep several requests outstanding).
    window: int = 100
    max_attempts: int = 10  # deliveries of one deliver_sm before the SMSC gives up
    retry_min: float = 0.5  # seconds before the first redelivery; doubles each time
    retry_max: float = 30.0
    long_mode: LongMode = "udh"
    coding: int | None = None  # force data_coding 0/3/8 for MOs; None = by content
    national: bool = False  # MO source as national 8 digits (TON 2) instead of TON 1
    unbind_timeout: float = 5.0
    log_pdus: bool = False
    keep_history: bool = True  # keep every MO and reply (tests); load mode keeps aggregates


def describe_faults(faults: dict[str, object]) -> str:
    """The faults in force, ``k=v`` each, or ``none``. ``refuse_status`` and ``bogus_kind``
    only qualify another fault, so they are not faults of their own."""
    active = [f"{k}={v}" for k, v in faults.items()
              if v and k not in ("refuse_status", "bogus_kind")]
    return ", ".join(active) or "none"


@dataclass(slots=True)
class Faults:
    """Misbehaviour switched on at start or at run time (all off by default)."""

    throttle_every: int = 0  # every Nth submit_sm answered ESME_RTHROTTLED (0x58)
    qfull_every: int = 0  # every Nth submit_sm answered ESME_RMSGQFUL (0x14)
    drop_after: int = 0  # drop TCP once N more PDUs have arrived from ESMEs (one shot)
    delay_ms: float = 0.0  # hold every response to the ESME this long
    refuse_binds: int = 0  # refuse the next N bind requests
    refuse_status: int = c.ESME_RBINDFAIL
    deliver_before_bind: bool = False  # next connection gets a deliver_sm before binding
    silent_submits: int = 0  # the next N submit_sm are never answered
    bogus_submit_resps: int = 0  # the next N submit_sm get a wrong PDU with their sequence
    bogus_kind: str = "enquire_link_resp"  # ... enquire_link_resp, or generic_nack0

    def describe(self) -> str:
        return describe_faults(self.as_dict())

    def as_dict(self) -> dict[str, object]:
        return {
            "throttle_every": self.throttle_every,
            "qfull_every": self.qfull_every,
            "drop_after": self.drop_after,
            "delay_ms": self.delay_ms,
            "refuse_binds": self.refuse_binds,
            "refuse_status": self.refuse_status,
            "deliver_before_bind": self.deliver_before_bind,
            "silent_submits": self.silent_submits,
            "bogus_submit_resps": self.bogus_submit_resps,
            "bogus_kind": self.bogus_kind,
        }


class Mo:
    """One mobile-originated text (or a delivery receipt) the SMSC must hand to an ESME."""

    __slots__ = (
        "acked_parts",
        "answered",
        "attempts_total",
        "created",
        "first_sent",
        "kind",
        "mo_id",
        "msisdn",
        "parts",
        "replies",
        "skipped",
        "state",
        "text",
    )

    def __init__(self, mo_id: int, msisdn: str, text: str, kind: str, created: float) -> None:
        self.mo_id = mo_id
        self.msisdn = msisdn
        self.text = text
        self.kind = kind  # "mo" or "receipt"
        self.created = created
        self.first_sent: float | None = None
        self.parts: list[Delivery] = []
        self.acked_parts = 0
        self.attempts_total = 0
        self.state = "queued"  # queued → acknowledged | failed
        self.replies: list[Reply] = []
        self.answered = False
        self.skipped = False  # a later text of the number was answered first: never will be


class Delivery:
    """One deliver_sm (a whole short text or one part of a long one) and its attempts."""

    __slots__ = (
        "attempts",
        "coding",
        "destination_addr",
        "esm_class",
        "mo",
        "short_message",
        "source_addr",
        "source_npi",
        "source_ton",
        "tlvs",
    )

    def __init__(self, mo: Mo, source_addr: str, source_ton: int, source_npi: int,
                 destination_addr: str, esm_class: int, coding: int, short_message: bytes,
                 tlvs: bytes = b"") -> None:
        self.mo = mo
        self.source_addr = source_addr
        self.source_ton = source_ton
        self.source_npi = source_npi
        self.destination_addr = destination_addr
        self.esm_class = esm_class
        self.coding = coding
        self.short_message = short_message
        self.tlvs = tlvs
        self.attempts = 0

    def encode(self, sequence: int) -> bytes:
        return codec.encode_deliver_sm(
            sequence, self.source_addr, self.source_ton, self.source_npi,
            self.destination_addr, self.esm_class, self.coding, self.short_message, self.tlvs,
        )


@dataclass(slots=True)
class Reply:
    """A complete MT text the ESME submitted (concatenated parts already reassembled)."""

    msisdn: str
    text: str
    source_addr: str
    data_coding: int
    parts: int
    message_ids: list[str]
    received_at: float  # time.time()
    mo_id: int | None = None
    latency_ms: float | None = None
    mo_text: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "msisdn": self.msisdn, "text": self.text, "source_addr": self.source_addr,
            "data_coding": self.data_coding, "parts": self.parts,
            "message_ids": self.message_ids, "received_at": self.received_at,
            "mo_id": self.mo_id, "latency_ms": self.latency_ms, "mo_text": self.mo_text,
        }


@dataclass(slots=True)
class Answer:
    """A PDU an ESME sent that tests may want to check (nacks, error statuses, unbind_resp)."""

    conn_id: int
    command: str
    status: int
    sequence: int
    at: float

    def as_dict(self) -> dict[str, object]:
        return {"conn_id": self.conn_id, "command": self.command,
                "status": self.status, "status_name": c.status_name(self.status),
                "sequence": self.sequence, "at": self.at}


@dataclass(slots=True)
class BindInfo:
    conn_id: int
    mode: str  # "transceiver" | "receiver" | "transmitter"
    system_id: str
    peer: str
    inflight: int = field(default=0)
