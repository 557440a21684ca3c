"""Delivery receipts (SMPP 3.4 Appendix B): which of our submits they confirm, and how.

Whether a deliver_sm *is* a receipt is the session's call (``smpp.session.classify``,
from esm_class §5.2.12); this module reads what a receipt says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smpp.codec import ShortMessage
from smpp.constants import MESSAGE_STATES

_ID = re.compile(rb"\bid:(\S+)", re.IGNORECASE)
_STAT = re.compile(rb"\bstat:(\w+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str


def parse_receipt(pdu: ShortMessage) -> Receipt | None:
    """The receipt in a deliver_sm, from its TLVs or the Appendix B body; None if unreadable."""
    body = pdu.body
    message_id = pdu.receipted_message_id or None
    state = pdu.message_state
    stat = MESSAGE_STATES.get(state) if state is not None else None
    if message_id is None:
        m = _ID.search(body)
        message_id = m.group(1).decode("ascii", "replace") if m else None
    if stat is None:
        m = _STAT.search(body)
        stat = m.group(1).decode("ascii", "replace").upper() if m else "UNKNOWN"
    if not message_id:
        return None
    return Receipt(message_id=message_id, stat=stat)
