"""Delivery receipts the simulator sends for accepted submit_sm: which outcome (a
configurable mix of DELIVRD/UNDELIV/EXPIRED/REJECTD, as testers know from SMPPSim) and
after how long. Pure: the server asks ``ReceiptPolicy`` what to send and schedules it.

A mix is written ``DELIVRD=80,UNDELIV=10,EXPIRED=5,REJECTD=5`` (shares, any positive
numbers; they need not add up to 100). The outcome of each receipt is drawn from the
policy's own random generator, so a seed gives the same sequence every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# SMPP 3.4 §5.2.28 message_state, and the error code written in the Appendix B body.
STATES: dict[str, tuple[int, str]] = {
    "DELIVRD": (2, "000"),
    "EXPIRED": (3, "001"),
    "DELETED": (4, "002"),
    "UNDELIV": (5, "003"),
    "ACCEPTD": (6, "000"),
    "UNKNOWN": (7, "004"),
    "REJECTD": (8, "005"),
}


class MixError(ValueError):
    """A receipt mix that cannot be read; the message says how to write one."""


def parse_mix(text: str) -> dict[str, float]:
    """``"DELIVRD=80,UNDELIV=20"`` -> ``{"DELIVRD": 80.0, "UNDELIV": 20.0}``."""
    mix: dict[str, float] = {}
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        name, sep, share = item.partition("=")
        name = name.strip().upper()
        if not sep or name not in STATES:
            raise MixError(f"receipt mix item {item.strip()!r}: write STATE=SHARE with STATE one "
                           f"of {', '.join(STATES)} (e.g. DELIVRD=80,UNDELIV=20)")
        try:
            value = float(share)
        except ValueError:
            raise MixError(f"receipt mix {name}: share {share.strip()!r} is not a number") from None
        if value < 0:
            raise MixError(f"receipt mix {name}: share must not be negative")
        mix[name] = mix.get(name, 0.0) + value
    if not mix or sum(mix.values()) <= 0:
        raise MixError("receipt mix: at least one state needs a positive share")
    return mix


def format_mix(mix: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in mix.items())


@dataclass
class ReceiptPolicy:
    """What receipts look like: the outcome mix and the delay before each is sent."""

    mix: dict[str, float] = field(default_factory=lambda: {"DELIVRD": 100.0})
    delay: float = 0.0  # seconds between submit_sm_resp and the receipt
    seed: int | None = None
    sent: dict[str, int] = field(default_factory=dict)  # receipts by state so far

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise MixError("receipt delay must not be negative")
        self._rng = random.Random(self.seed)

    def pick(self) -> str:
        names = list(self.mix)
        state = self._rng.choices(names, weights=[self.mix[n] for n in names])[0]
        self.sent[state] = self.sent.get(state, 0) + 1
        return state

    def as_dict(self) -> dict[str, object]:
        return {"mix": format_mix(self.mix), "delay": self.delay, "sent": dict(self.sent)}


def receipt_body(message_id: str, state: str, submitted: str, done: str, text: str) -> str:
    """The Appendix B text of a receipt (``submitted``/``done`` as YYMMDDhhmm)."""
    delivered = "001" if state == "DELIVRD" else "000"
    return (f"id:{message_id} sub:001 dlvr:{delivered} submit date:{submitted} "
            f"done date:{done} stat:{state} err:{STATES[state][1]} text:{text[:20]}")


def message_state(state: str) -> int:
    return STATES[state][0]
