"""The typed wire schema of delivery updates, gateway → worker (carried in RQ job kwargs).

Both sides import these classes: the gateway builds them, the worker reads them back
with ``parse_update``; neither writes or parses dict literals of its own. (The text
itself travels as a ``consent_store.ChangeRequest`` dict and replies as
``consent_queue.replies.Reply``.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class BadUpdate(ValueError):
    """A delivery update that does not follow the schema."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The SMSC accepted (status "0x00", message_id set) or finally refused a reply."""

    event_id: str
    message_id: str | None
    status: str  # "0x%02X" of the last submit_sm_resp command_status
    at: str  # ISO 8601 UTC
    smsc: str = ""  # host:port/system_id of the SMSC that accepted it
    kind: str = "submit"

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    """A delivery receipt: which message id, its final state, and where it came from —
    the SMSC (host:port/system_id) and the number the reply was sent to, so that a message
    id repeated by another SMSC or after a restart cannot be matched to the wrong reply."""

    message_id: str
    stat: str
    at: str
    smsc: str = ""
    msisdn: str = ""
    kind: str = "receipt"

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


DeliveryUpdate = SubmitResult | ReceiptUpdate


def parse_update(data: Any) -> DeliveryUpdate:
    """A delivery update from the wire; raises ``BadUpdate``."""
    if not isinstance(data, dict):
        raise BadUpdate(f"not an object: {type(data).__name__}")
    kind = data.get("kind")
    try:
        if kind == "submit":
            mid = data.get("message_id")
            return SubmitResult(str(data["event_id"]), None if mid is None else str(mid),
                                str(data["status"]), str(data["at"]),
                                str(data.get("smsc", "")))
        if kind == "receipt":
            return ReceiptUpdate(str(data["message_id"]), str(data["stat"]), str(data["at"]),
                                 str(data.get("smsc", "")), str(data.get("msisdn", "")))
    except KeyError as exc:
        raise BadUpdate(f"{kind} update without {exc.args[0]}") from None
    raise BadUpdate(f"unknown kind {kind!r}")
