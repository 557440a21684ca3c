"""Reassembly of concatenated (multi-part) texts, sans I/O: parts in, whole texts out.

A long text arrives as several `deliver_sm` PDUs, each with a User Data Header carrying a
concatenation information element (3GPP TS 23.040 §9.2.3.24.1 for the 8-bit reference,
§9.2.3.24.8 for the 16-bit one). The caller feeds each decoded part with the time; this
module never reads a clock, so tests drive time explicitly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

# How long to wait for the missing parts of a set. SMSCs normally hand over all parts
# within seconds; TS 23.040 sets no limit, and handsets commonly give up after minutes.
DEFAULT_TIMEOUT: Final[float] = 120.0
# Bound on sets held at once, so a sender spraying first parts cannot exhaust memory.
DEFAULT_MAX_PENDING: Final[int] = 10_000


@dataclass(frozen=True, slots=True)
class Concat:
    """The concatenation IE of one part: reference, number of parts, this part's number
    (1-based), and the width of the reference (8 or 16 bits: a set with an 8-bit
    reference 5 and one with a 16-bit reference 5 are different sets)."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A set given up on: who sent it, its reference, and the parts that did arrive."""

    msisdn: str
    ref: int
    total: int
    parts: tuple[tuple[int, str], ...]  # (seq, text), in seq order
    first_seen: float
    reason: str  # "timeout" or "evicted"
    ref_bits: int = 8

    @property
    def key(self) -> PartKey:
        return (self.msisdn, self.ref, self.total, self.ref_bits)

    @property
    def text(self) -> str:
        """The parts that arrived, joined in order (gaps are simply skipped)."""
        return join_parts(text for _, text in self.parts)


@dataclass(slots=True)
class _Pending:
    first_seen: float
    parts: dict[int, str] = field(default_factory=dict)


# The one key of a set of parts, wherever parts are held: (msisdn, ref, total, ref_bits).
PartKey = tuple[str, int, int, int]


def part_key(msisdn: str, concat: Concat) -> PartKey:
    return (msisdn, concat.ref, concat.total, concat.ref_bits)


def is_part(concat: Concat) -> bool:
    """Whether ``Reassembler.add`` holds this part for a set (else it is a text of its own)."""
    return concat.total > 1 and 1 <= concat.seq <= concat.total


def join_parts(texts: Iterable[str]) -> str:
    """Parts joined in order; a UTF-16 surrogate pair split across two parts (the decoder
    keeps such edge surrogates) becomes its character again, and a surrogate left alone
    (its other half never came) becomes U+FFFD."""
    joined = "".join(texts)
    if not any("\ud800" <= ch <= "\udfff" for ch in joined):
        return joined
    return joined.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "replace")


class Reassembler:
    """Collects parts per (sender, reference, total) and yields the whole text once complete.

    Memory is bounded by ``max_pending`` sets of at most 255 parts each; when full, the
    oldest set is evicted and reported by the next ``expire()`` call.
    """

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: OrderedDict[PartKey, _Pending] = OrderedDict()
        self._evicted: list[Incomplete] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, msisdn: str, concat: Concat, text: str, now: float) -> str | None:
        """Record one part; return the whole text when this part completes its set.

        A repeated part (an SMSC redelivery) keeps the first copy. A part whose numbers
        make no sense (seq outside 1..total) is treated as a text of its own.
        """
        if not is_part(concat):
            return join_parts([text])
        key = part_key(msisdn, concat)
        pending = self._pending.get(key)
        if pending is None:
            while len(self._pending) >= self.max_pending:
                old_key, old = self._pending.popitem(last=False)
                self._evicted.append(_incomplete(old_key, old, "evicted"))
            pending = _Pending(first_seen=now)
            self._pending[key] = pending
        pending.parts.setdefault(concat.seq, text)
        if len(pending.parts) < concat.total:
            return None
        del self._pending[key]
        return join_parts(pending.parts[seq] for seq in range(1, concat.total + 1))

    def expire(self, now: float) -> list[Incomplete]:
        """Give up on sets older than the timeout (and any evicted ones); return them."""
        gone, self._evicted = self._evicted, []
        # Sets are kept in arrival order of their first part, so the old ones come first.
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if now - pending.first_seen < self.timeout:
                break
            del self._pending[key]
            gone.append(_incomplete(key, pending, "timeout"))
        return gone


def _incomplete(key: PartKey, pending: _Pending, reason: str) -> Incomplete:
    msisdn, ref, total, ref_bits = key
    return Incomplete(
        msisdn=msisdn,
        ref=ref,
        total=total,
        parts=tuple(sorted(pending.parts.items())),
        first_seen=pending.first_seen,
        reason=reason,
        ref_bits=ref_bits,
    )
