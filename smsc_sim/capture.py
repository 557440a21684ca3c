"""MT capture: reassemble the ESME's submit_sm into replies and match each to the MO it answers.

Matching per number: a reply to N answers the unanswered MO from N whose words it echoes
(a confirmation names the consent the text named), the oldest of those, else the oldest
unanswered one. The ESME answers a number's texts in order, so once a later MO is answered
the earlier unanswered ones never will be (their reply was rate-limited or dropped): they
are set aside as *skipped* and no later reply is paired with them. A reply to a number
whose MOs are all answered counts as a second answer to its latest MO (or as unsolicited
if the number never texted).
"""

from __future__ import annotations

import time
import unicodedata
from array import array
from collections import deque
from collections.abc import Callable

from smsc_sim.model import Mo, Reply
from smsc_sim.text import Segment, decode_text, split_udh


def number_key(addr: str) -> str:
    """One spelling per number: international digits, national 8-digit read as Latvian."""
    digits = addr.lstrip("+")
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 8 and digits.isdigit():
        return "371" + digits
    return digits


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n*q/100)
    return sorted_values[int(rank) - 1]


class ReplyCapture:
    def __init__(self, keep_history: bool, on_reply: Callable[[Reply], None]) -> None:
        self.keep_history = keep_history
        self._on_reply = on_reply
        self._unanswered: dict[str, deque[Mo]] = {}
        self._last_answered: dict[str, Mo] = {}
        # (dest, ref, total) -> {seq: text}; first part's wall time and message ids
        self._partial: dict[tuple[str, int, int], dict[int, str]] = {}
        self._partial_ids: dict[tuple[str, int, int], list[str]] = {}
        self.replies: list[Reply] = []
        self.latencies_ms = array("d")
        self.replies_total = 0
        self.answered_twice = 0
        self.unsolicited = 0
        self.skipped = 0  # MOs passed over by the answer to a later one (rate-limited)
        self.last_reply_at: float | None = None

    def expect(self, mo: Mo) -> None:
        """Register an MO that should get a reply."""
        key = number_key(mo.msisdn)
        queue = self._unanswered.get(key)
        if queue is None:
            queue = self._unanswered[key] = deque()
        queue.append(mo)

    def unanswered(self) -> int:
        return sum(len(q) for q in self._unanswered.values())

    def submit(self, params: dict[str, object], tlvs: dict[int, bytes], message_id: str) -> None:
        """Record one accepted submit_sm."""
        dest = str(params.get("destination_addr", ""))
        esm_class = int(params.get("esm_class", 0))  # type: ignore[call-overload]
        coding = int(params.get("data_coding", 0))  # type: ignore[call-overload]
        octets = params.get("short_message", b"")
        assert isinstance(octets, bytes)
        if not octets and 0x0424 in tlvs:
            octets = tlvs[0x0424]
        segment = None
        if esm_class & 0x40:
            segment, octets = split_udh(octets)
        elif 0x020C in tlvs and 0x020E in tlvs and 0x020F in tlvs:  # SAR TLVs, §5.3.2.22-24
            segment = Segment(int.from_bytes(tlvs[0x020C], "big"), tlvs[0x020E][0],
                              tlvs[0x020F][0])
        text = decode_text(coding, octets)
        source = str(params.get("source_addr", ""))
        if segment is None or segment.total <= 1:
            self._complete(dest, text, source, coding, 1, [message_id])
            return
        key = (dest, segment.ref, segment.total)
        parts = self._partial.setdefault(key, {})
        ids = self._partial_ids.setdefault(key, [])
        parts[segment.seq] = text
        ids.append(message_id)
        if len(parts) == segment.total:
            del self._partial[key]
            del self._partial_ids[key]
            full = "".join(parts[i] for i in sorted(parts))
            self._complete(dest, full, source, coding, segment.total, ids)

    def _complete(self, dest: str, text: str, source: str, coding: int, nparts: int,
                  ids: list[str]) -> None:
        now_perf = time.perf_counter()
        reply = Reply(dest, text, source, coding, nparts, ids, time.time())
        self.replies_total += 1
        self.last_reply_at = now_perf
        key = number_key(dest)
        queue = self._unanswered.get(key)
        if queue:
            mo = _answered_by(queue, text)
            while queue[0] is not mo:  # earlier texts of the number: never answered now
                queue.popleft().skipped = True
                self.skipped += 1
            queue.popleft()
            if not queue:
                del self._unanswered[key]
            mo.answered = True
            self._last_answered[key] = mo
            reply.mo_id = mo.mo_id
            reply.mo_text = mo.text
            if mo.first_sent is not None:
                reply.latency_ms = (now_perf - mo.first_sent) * 1000.0
                self.latencies_ms.append(reply.latency_ms)
            mo.replies.append(reply)
        else:
            last = self._last_answered.get(key)
            if last is not None:
                if len(last.replies) == 1:
                    self.answered_twice += 1  # counted once per MO, however many extras
                reply.mo_id = last.mo_id
                reply.mo_text = last.text
                last.replies.append(reply)
            else:
                self.unsolicited += 1
        if self.keep_history:
            self.replies.append(reply)
        self._on_reply(reply)

    def latency_summary(self) -> dict[str, float | None]:
        values = sorted(self.latencies_ms)
        return {
            "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": values[-1] if values else None,
        }


# Unanswered texts of one number looked at for a match (load mode may queue many).
PAIRING_LOOKAHEAD = 8


def _words(text: str) -> set[str]:
    """Upper-case words of 3+ letters without diacritics: ``Sadarbība`` -> ``SADARBIBA``."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).upper()
    return {w for w in "".join(c if c.isalnum() else " " for c in plain).split() if len(w) >= 3}


def _answered_by(queue: deque[Mo], reply_text: str) -> Mo:
    """The MO of ``queue`` (oldest first) that a reply with ``reply_text`` answers."""
    if len(queue) == 1:
        return queue[0]
    said = _words(reply_text)
    if not said:
        return queue[0]
    for i, mo in enumerate(queue):
        if i == PAIRING_LOOKAHEAD:
            break
        if _words(mo.text) & said:
            return mo
    return queue[0]
