"""Delivery receipts (SMPP 3.4 Appendix B): which of our submits they confirm, and how."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# SMPP 3.4 §5.2.12: esm_class bits 5..2 give the message type; 0001 is an SMSC delivery
# receipt, other non-zero values are acknowledgements and notifications: never a command.
MESSAGE_TYPE_MASK = 0x3C
DELIVERY_RECEIPT = 0x04

# SMPP 3.4 §5.2.28 message_state values.
_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
           7: "UNKNOWN", 8: "REJECTD"}
_ID = re.compile(rb"\bid:(\S+)", re.IGNORECASE)
_STAT = re.compile(rb"\bstat:(\w+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str


def is_not_a_text(esm_class: int) -> bool:
    return bool(esm_class & MESSAGE_TYPE_MASK)


def parse_receipt(pdu: Any) -> Receipt | None:
    """The receipt in a deliver_sm, from its TLVs or the Appendix B body; None if unreadable."""
    body = bytes(pdu.short_message or b"") or bytes(getattr(pdu, "message_payload", None) or b"")
    mid = getattr(pdu, "receipted_message_id", None)
    state = getattr(pdu, "message_state", None)
    message_id = _text(mid) if mid else None
    stat = _STATES.get(state) if isinstance(state, int) else None
    if message_id is None:
        m = _ID.search(body)
        message_id = m.group(1).decode("ascii", "replace") if m else None
    if stat is None:
        m = _STAT.search(body)
        stat = m.group(1).decode("ascii", "replace").upper() if m else "UNKNOWN"
    if not message_id:
        return None
    return Receipt(message_id=message_id, stat=stat)


def _text(value: Any) -> str:
    return value.decode("ascii", "replace").rstrip("\x00") if isinstance(value, bytes) else str(value)
