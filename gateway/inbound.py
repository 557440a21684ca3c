"""Inbound: deliver_sm → decoded, parsed event → RQ job → deliver_sm_resp.

The reader thread only appends arrivals here. A flusher thread groups them into small
batches, queues each batch in one Redis transaction and only then answers the SMSC:
``deliver_sm_resp`` 0 for what is durably queued, the configured temporary error
(ESME_RX_T_APPN by default) for everything else, so the SMSC redelivers it.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import structlog

from config.settings import Settings
from consent_core.concat import Reassembler
from consent_core.decode import DecodeError, decode_text
from consent_core.model import CONSENTS, Give, Withdraw
from consent_core.msisdn import BadSender, is_short_number, normalise
from consent_core.parse import parse
from consent_queue.events import EventQueue, QueuedText
from gateway import pdus
from gateway.metrics import GatewayMetrics
from gateway.receipts import DELIVERY_RECEIPT, MESSAGE_TYPE_MASK, parse_receipt
from gateway.smpp_link import SmppLink

log = structlog.get_logger("gateway.inbound")

MAX_RAW_OCTETS = 4096  # kept in the ledger as hex; longer bodies are cut (and marked)
QUIET_GAP = 0.002  # seconds without a new deliver_sm that end a burst


@dataclass(slots=True)
class Arrival:
    link: SmppLink
    pdu: Any
    at: float  # wall clock, seconds


@dataclass(slots=True)
class _Batch:
    link: SmppLink
    arrivals: list[Arrival] = field(default_factory=list)
    texts: list[QueuedText] = field(default_factory=list)
    owners: list[list[Arrival]] = field(default_factory=list)  # arrivals each text answers
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[Arrival] = field(default_factory=list)
    settled: list[Arrival] = field(default_factory=list)  # answered 0 whatever happens


class Inbound:
    def __init__(self, settings: Settings, events: EventQueue, metrics: GatewayMetrics,
                 instance: str) -> None:
        self._s = settings
        self._events = events
        self._m = metrics
        self._instance = instance
        self._cond = threading.Condition()
        self._arrivals: deque[Arrival] = deque()
        self._updates: list[dict[str, Any]] = []
        self._reasm = Reassembler(timeout=settings.gateway.concat_timeout)
        self._held: dict[tuple[str, int], list[Arrival]] = {}
        self._last_seq = 0
        self._burst = settings.queue.batch_max
        self._stop = False
        self.received = 0
        self.queued = 0
        self.last_text_at: float | None = None

    # ------------------------------------------------------------ producers
    def offer(self, link: SmppLink, pdu: Any) -> None:
        """Called by the reader thread for every deliver_sm; never blocks on I/O."""
        with self._cond:
            self._arrivals.append(Arrival(link, pdu, time.time()))
            self._cond.notify()

    def add_update(self, update: dict[str, Any]) -> None:
        """A delivery update (submit accepted, failed, receipt) to record in the store."""
        with self._cond:
            self._updates.append(update)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    # ------------------------------------------------------------ flusher
    def run(self) -> None:
        wait = self._s.queue.batch_wait_ms / 1000.0
        while True:
            with self._cond:
                while not self._arrivals and not self._updates and not self._stop:
                    self._cond.wait(timeout=1.0)
                    if self._held:
                        break  # let _flush give up on incomplete long texts
                if self._stop and not self._arrivals and not self._updates:
                    return
                if wait > 0 and not self._stop:
                    self._gather(wait)
                n = min(len(self._arrivals), self._s.queue.batch_max)
                taken = [self._arrivals.popleft() for _ in range(n)]
                updates, self._updates = self._updates, []
            try:
                self._flush(taken, updates)
            except Exception:  # never let a bug stop the flusher: answer temp error, go on
                log.exception("inbound.flush_failed")
                for a in taken:
                    self._answer(a.link, [a], self._s.smpp.temporary_error_status)

    def _gather(self, wait: float) -> None:
        """Let a burst fill the batch (one job, one transaction for many texts). Lock held.

        The batch ends when it is full, when ``wait`` has passed, or — once it is as large
        as the largest recent batch, i.e. probably all the SMSC's window of unacknowledged
        deliver_sm allows — when QUIET_GAP passes without a new text: the SMSC is then
        waiting for our answers and waiting longer would only slow it down. At moderate
        rates the batch simply waits ``wait`` and holds what came meanwhile.
        """
        deadline = time.monotonic() + wait
        limit = self._s.queue.batch_max
        while len(self._arrivals) < limit and not self._stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            seen = len(self._arrivals)
            if seen >= self._burst:
                self._cond.wait(timeout=min(remaining, QUIET_GAP))
                if len(self._arrivals) == seen:
                    break
            else:
                self._cond.wait(timeout=remaining)
        size = min(len(self._arrivals), limit)
        # The largest recent batch, decaying slowly: an estimate of the SMSC's window.
        self._burst = max(size, int(self._burst * 0.98), 2)

    def _flush(self, taken: list[Arrival], updates: list[dict[str, Any]]) -> None:
        batches: dict[str, _Batch] = {}
        for a in taken:
            b = batches.setdefault(a.link.conn_id, _Batch(a.link))
            self._classify(a, b)
        expired = self._expire_parts()
        for link, arrivals, text in expired:
            b = batches.setdefault(link.conn_id, _Batch(link))
            self._add_text(b, arrivals, text, None)
        if not batches and updates:
            batches["-"] = _Batch(taken[0].link if taken else None)  # type: ignore[arg-type]
        first = True
        for b in batches.values():
            if first:
                # Submit results were produced before the receipts in this batch arrived.
                b.deliveries[:0] = updates
                first = False
                if not self._queue(b) and updates:
                    with self._cond:  # keep them for the next batch; the store needs them
                        self._updates[:0] = updates[: 100_000]
            else:
                self._queue(b)

    def _queue(self, b: _Batch) -> bool:
        ok_status, temp = pdus.ESME_ROK, self._s.smpp.temporary_error_status
        queued = True
        if b.texts or b.deliveries:
            try:
                self._events.enqueue(b.texts, b.deliveries, uuid.uuid4().hex,
                                     b.link.conn_id if b.link else "-")
            except redis.RedisError as exc:
                queued = False
                self._m.queue_errors.inc()
                log.error("inbound.queue_unavailable", error=str(exc), texts=len(b.texts),
                          answer=f"0x{temp:02X}", hint="the SMSC will redeliver these")
        if b.link is None:
            return queued
        status = ok_status if queued else temp
        answers: list[tuple[list[Arrival], int]] = [(owners, status) for owners in b.owners]
        answers.append((b.receipts, status))
        answers.append((b.settled, ok_status))
        frames = []
        for arrivals, st in answers:
            for a in arrivals:
                frames.append(pdus.deliver_sm_resp(a.pdu.sequence, st))
                self._m.deliver_resp.labels(status=f"0x{st:02X}").inc()
        if frames and b.link.send(b"".join(frames)):
            if queued:
                self._events.acknowledged_quietly(b.texts)
        if queued:
            for t in b.texts:
                self._m.texts.labels(outcome="duplicate" if t.duplicate else "queued").inc()
                log.info("mo.duplicate" if t.duplicate else "mo.queued",
                         correlation_id=t.request["correlation_id"], msisdn=t.msisdn,
                         action=t.request["action"], consent=t.request["consent"])
            self.queued += sum(1 for t in b.texts if not t.duplicate)
            if b.texts:
                self._m.batch_size.observe(len(b.texts))
        return queued

    def _answer(self, link: SmppLink, arrivals: list[Arrival], status: int) -> None:
        if link is not None and arrivals:
            link.send(b"".join(pdus.deliver_sm_resp(a.pdu.sequence, status) for a in arrivals))

    # ------------------------------------------------------------ classification
    def _classify(self, a: Arrival, b: _Batch) -> None:
        pdu = a.pdu
        self.received += 1
        esm = int(pdu.esm_class or 0)
        if esm & MESSAGE_TYPE_MASK:
            if esm & MESSAGE_TYPE_MASK == DELIVERY_RECEIPT:
                r = parse_receipt(pdu)
                if r is not None:
                    b.deliveries.append({"kind": "receipt", "message_id": r.message_id,
                                         "stat": r.stat, "at": _iso(a.at)})
                    b.receipts.append(a)
                    self._m.texts.labels(outcome="receipt").inc()
                    return
            self._m.texts.labels(outcome="not_a_text").inc()
            log.info("mo.not_a_text", esm_class=hex(esm), action="acknowledged, not a command")
            b.settled.append(a)
            return
        source = _str(pdu.source_addr)
        sender = normalise(source, int(pdu.source_addr_ton or 0), int(pdu.source_addr_npi or 0))
        if isinstance(sender, BadSender):
            self._m.texts.labels(outcome="bad_sender").inc()
            log.warning("mo.bad_sender", reason=sender.reason, source_addr=source,
                        action="acknowledged; no consent or reply for this sender")
            b.settled.append(a)
            return
        msisdn = sender.digits
        if is_short_number(msisdn, self._s.smpp.short_number):
            self._m.texts.labels(outcome="loop").inc()
            log.warning("mo.from_short_number", action="acknowledged; never answered (loop)")
            b.settled.append(a)
            return
        payload = pdu.message_payload if pdu.message_payload else None
        decoded = decode_text(bytes(pdu.short_message or b""), int(pdu.data_coding or 0),
                              esm_class=esm, message_payload=payload)
        if not isinstance(decoded, DecodeError) and decoded.concat is not None:
            key = (msisdn, decoded.concat.ref)
            self._held.setdefault(key, []).append(a)
            full = self._reasm.add(msisdn, decoded.concat, decoded.text, time.monotonic())
            if full is None:
                return  # answered when the set is complete or given up
            held = self._held.pop(key, [a])
            self._add_text(b, held, full, decoded.data_coding, msisdn=msisdn)
            return
        self._add_text(b, [a], decoded, None, msisdn=msisdn)

    def _add_text(self, b: _Batch, arrivals: list[Arrival], decoded: Any, coding: int | None,
                  msisdn: str | None = None) -> None:
        first = arrivals[0]
        pdu = first.pdu
        if msisdn is None:
            sender = normalise(_str(pdu.source_addr), int(pdu.source_addr_ton or 0),
                               int(pdu.source_addr_npi or 0))
            msisdn = sender.digits if not isinstance(sender, BadSender) else "0"
        raw = b"".join(bytes(x.pdu.message_payload or x.pdu.short_message or b"") for x in arrivals)
        smsc: dict[str, Any] = {
            "source_addr": _str(pdu.source_addr), "source_ton": int(pdu.source_addr_ton or 0),
            "source_npi": int(pdu.source_addr_npi or 0),
            "destination_addr": _str(pdu.destination_addr), "esm_class": int(pdu.esm_class or 0),
            "sequence": int(pdu.sequence), "parts": len(arrivals), "gateway": self._instance,
            "conn": first.link.conn_id,
        }
        if isinstance(decoded, DecodeError):
            text, data_coding = None, decoded.data_coding
            command: Any = None
            smsc["decode_error"] = decoded.reason
        elif isinstance(decoded, str):
            text, command = decoded, parse(decoded, CONSENTS)
            data_coding = coding if coding is not None else 0
        else:
            text, data_coding = decoded.text, decoded.data_coding
            command = parse(text, CONSENTS)
            if decoded.notes:
                smsc["decode_notes"] = list(decoded.notes)
        if len(raw) > MAX_RAW_OCTETS:
            smsc["raw_truncated_from"] = len(raw)
            raw = raw[:MAX_RAW_OCTETS]
        if isinstance(command, Give):
            action, consent = "give", command.consent
        elif isinstance(command, Withdraw):
            action, consent = "withdraw", command.consent
        else:
            action, consent = "unknown", None
        event_id = uuid.uuid4().hex
        request = {
            "event_id": event_id, "msisdn": msisdn, "action": action, "consent": consent,
            "channel": "sms", "received_at": _iso(first.at), "ingest_seq": self._next_seq(),
            "text": text, "raw_hex": raw.hex(), "data_coding": data_coding,
            "correlation_id": event_id[:16], "smsc": smsc,
        }
        fp = hashlib.blake2b(digest_size=10)
        fp.update(msisdn.encode())
        for x in arrivals:
            fp.update(bytes([int(x.pdu.data_coding or 0)]))
            fp.update(bytes(x.pdu.short_message or b""))
            fp.update(bytes(x.pdu.message_payload or b""))
        b.texts.append(QueuedText(request=request, fingerprint=fp.hexdigest()))
        b.owners.append(arrivals)
        self.last_text_at = first.at

    def _expire_parts(self) -> list[tuple[SmppLink, list[Arrival], str]]:
        out = []
        for inc in self._reasm.expire(time.monotonic()):
            held = self._held.pop((inc.msisdn, inc.ref), [])
            if held:
                log.warning("mo.concat_incomplete", parts=len(inc.parts), total=inc.total,
                            reason=inc.reason, action="queued as received (help reply)")
                out.append((held[0].link, held, inc.text))
        return out

    def _next_seq(self) -> int:
        # Per-number order across the system: microseconds of wall clock, strictly
        # increasing within this process (design.md "Ordering").
        seq = max(self._last_seq + 1, time.time_ns() // 1000)
        self._last_seq = seq
        return seq


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00")
    return "" if value is None else str(value)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
