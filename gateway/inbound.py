"""Inbound: deliver_sm → decoded, parsed event → RQ job → deliver_sm_resp.

The reader thread only appends arrivals here. A flusher thread groups them into small
batches, queues each batch in one Redis transaction and only then answers the SMSC:
``deliver_sm_resp`` 0 for what is durably queued, the configured temporary error
(ESME_RX_T_APPN by default) for everything else, so the SMSC redelivers it.

A part of a long text is answered once it is held in Redis (consent_queue/parts.py), never
later: its siblings may be on another bind, even another instance. Whichever instance
holds the last part queues the text; sets that stay incomplete are queued as received
after ``gateway.concat_timeout`` by whichever instance looks first.
"""

from __future__ import annotations

import hashlib
import logging
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
from consent_core.changes import BadRequest, ChangeRequest, DeliveryUpdate, ReceiptUpdate
from consent_core.clock import Clock, system_clock
from consent_core.concat import Concat, is_part
from consent_core.decode import DecodeError, decode_text
from consent_core.instants import iso
from consent_core.model import CONSENTS, Give, Withdraw
from consent_core.msisdn import BadSender, is_short_number, mask, normalise
from consent_core.parse import parse
from consent_queue.events import EventQueue, QueuedText, ReplicasBehind, UnsureEntries
from consent_queue.parts import HeldSet, HoldStatus, HowClaimed, Part, PartStore
from gateway.metrics import GatewayMetrics
from gateway.receipts import parse_receipt
from gateway.smpp_link import SmppLink
from smpp import constants as c
from smpp import session as sm
from smpp.codec import ShortMessage

log = structlog.get_logger("gateway.inbound")

MAX_RAW_OCTETS = 4096  # kept in the ledger as hex; longer bodies are cut (and marked)
QUIET_GAP = 0.002  # seconds without a new deliver_sm that end a burst
BACKLOG_FRESH_S = 0.1  # a backlog reading this recent may spare the next batch's read
SWEEP_INTERVAL = 1.0  # seconds between looks for sets of parts that are due (any instance's)


@dataclass(slots=True)
class Arrival:
    link: SmppLink
    pdu: ShortMessage
    kind: sm.DeliverKind
    at: float  # wall clock, seconds
    since: float = 0.0  # monotonic, seconds: when it arrived (the batch's deadline counts from it)


@dataclass(slots=True)
class _HeldPart:
    arrival: Arrival
    msisdn: str
    concat: Concat
    part: Part


@dataclass(slots=True)
class _Batch:
    link: SmppLink | None  # None: sets of parts claimed from Redis
    arrivals: list[Arrival] = field(default_factory=list)
    texts: list[QueuedText] = field(default_factory=list)
    owners: list[list[Arrival]] = field(default_factory=list)  # arrivals each text answers
    deliveries: list[DeliveryUpdate] = field(default_factory=list)  # receipts
    receipts: list[Arrival] = field(default_factory=list)
    parts: list[_HeldPart] = field(default_factory=list)  # answered once held in Redis
    # answered whatever happens, with their status (0, or the wrong-destination status)
    settled: list[tuple[list[Arrival], int]] = field(default_factory=list)


class Inbound:
    def __init__(self, settings: Settings, events: EventQueue, parts: PartStore,
                 metrics: GatewayMetrics, instance: str, clock: Clock = system_clock) -> None:
        self._settings = settings
        self._clock = clock  # when a text arrived (received_at) comes from here
        self._events = events
        self._metrics = metrics
        self._instance = instance
        self._cond = threading.Condition()
        self._arrivals: deque[Arrival] = deque()
        self._parts = parts
        self._next_sweep = 0.0  # monotonic time of the next look for due sets of parts
        # Pending entries of batches whose enqueue ended with its outcome unknown, on any of
        # this gateway's links: they match their redelivery whichever bind it comes on.
        self._unsure = UnsureEntries()
        self._burst = settings.queue.batch_max
        # The flusher is woken when this many texts wait (1 while it waits for any): while
        # it gathers a batch below its expected size it sleeps until the size or the
        # deadline, rather than waking for every deliver_sm (about 500 wake-ups a second
        # at 500 texts/s, for nothing).
        self._wake_at = 1
        # The backlog as last read, when, and how many texts this gateway queued since.
        self._backlog_read, self._backlog_read_at, self._queued_since_read = 0, -1e9, 0
        self._stop = False
        self.received = 0
        self.queued = 0
        self.last_text_at: float | None = None

    # ------------------------------------------------------------ producers
    def offer(self, link: SmppLink, event: sm.Deliver) -> None:
        """Called by the I/O thread for every deliver_sm; never blocks on I/O. Beyond
        ``gateway.max_pending_texts`` waiting, the text is refused at once with the
        temporary error (the SMSC keeps it and redelivers)."""
        with self._cond:
            full = len(self._arrivals) >= self._settings.gateway.max_pending_texts
            if not full:
                self._arrivals.append(Arrival(link, event.sm, event.kind,
                                              self._clock().timestamp(), time.monotonic()))
                if len(self._arrivals) >= self._wake_at:
                    self._cond.notify()
        if full:
            self._metrics.texts.labels(outcome="overloaded").inc()
            self._answer(link, [(event.sm.sequence, self._settings.smpp.temporary_error_status)])

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    # ------------------------------------------------------------ flusher
    def run(self) -> None:
        wait = self._settings.queue.batch_wait_ms / 1000.0
        while True:
            with self._cond:
                self._wake_at = 1
                while not self._arrivals and not self._stop:
                    left = self._next_sweep - time.monotonic()
                    if left <= 0:
                        break  # sets of parts may be due, whoever received them
                    self._cond.wait(timeout=min(1.0, left))
                if self._stop and not self._arrivals:
                    return
                if wait > 0 and not self._stop and self._arrivals:
                    self._gather(wait)
                n = min(len(self._arrivals), self._settings.queue.batch_max)
                taken = [self._arrivals.popleft() for _ in range(n)]
            try:
                self._flush(taken)
            except Exception:  # never let a bug stop the flusher: answer temp error, go on
                log.exception("inbound.flush_failed")
                temp = self._settings.smpp.temporary_error_status
                for a in taken:
                    self._answer(a.link, [(a.pdu.sequence, temp)])

    def _gather(self, wait: float) -> None:
        """Let a burst fill the batch (one job, one transaction for many texts). Lock held.

        The batch ends when it is full, when ``wait`` has passed, or — once it is as large
        as the largest recent batch, i.e. probably all the SMSC's window of unacknowledged
        deliver_sm allows — when QUIET_GAP passes without a new text: the SMSC is then
        waiting for our answers and waiting longer would only slow it down. At moderate
        rates the batch simply waits ``wait`` and holds what came meanwhile.

        ``wait`` counts from the oldest text's arrival, not from when gathering begins:
        texts that came while the previous batch was being queued have waited that long
        already, and must not wait the flush *and* a whole ``wait``.
        """
        start = self._arrivals[0].since if self._arrivals else time.monotonic()
        deadline = start + wait
        limit = self._settings.queue.batch_max
        while len(self._arrivals) < limit and not self._stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            seen = len(self._arrivals)
            if seen >= self._burst:
                self._wake_at = seen + 1  # the next text, or QUIET_GAP without one
                self._cond.wait(timeout=min(remaining, QUIET_GAP))
                if len(self._arrivals) == seen:
                    break
            else:
                self._wake_at = min(self._burst, limit)  # the expected size, or the deadline
                self._cond.wait(timeout=remaining)
        self._wake_at = 1
        size = min(len(self._arrivals), limit)
        # The largest recent batch, decaying slowly: an estimate of the SMSC's window.
        self._burst = max(size, int(self._burst * 0.98), 2)

    def _flush(self, taken: list[Arrival]) -> None:
        batches: dict[str, _Batch] = {}
        for a in taken:
            b = batches.setdefault(a.link.conn_id, _Batch(a.link))
            self._classify(a, b)
        for held in self._sweep():
            self._add_set_text(batches.setdefault("-", _Batch(None)), held)
        for b in batches.values():
            self._queue(b)

    def _over_backlog(self, b: _Batch) -> None:
        """At saturation the backlog is a decision (gateway.max_backlog): beyond the bound
        the batch's texts get the temporary error and the SMSC keeps them; receipts and
        delivery updates still go through."""
        bound = self._settings.gateway.max_backlog
        if not b.texts and not b.parts:
            return
        # Workers only ever shrink the backlog, so it is at most what was read plus what
        # this gateway queued since. While that is under half the bound and the reading is
        # fresh, the read (a round trip a batch) is skipped; the other half covers what
        # other gateways may have queued meanwhile (BACKLOG_FRESH_S at the SMSC's window:
        # a few hundred texts against a bound of thousands).
        now = time.monotonic()
        upper = self._backlog_read + self._queued_since_read + len(b.texts) + len(b.parts)
        if bound > 0 and now - self._backlog_read_at < BACKLOG_FRESH_S and 2 * upper < bound:
            return
        try:
            size = self._events.backlog.size()
        except redis.RedisError:
            return  # the enqueue below meets the same error and answers it
        self._backlog_read, self._backlog_read_at, self._queued_since_read = size, now, 0
        self._metrics.backlog.set(size)
        if bound <= 0 or size < bound:
            return
        temp = self._settings.smpp.temporary_error_status
        self._metrics.texts.labels(outcome="backlog_full").inc(len(b.texts) + len(b.parts))
        log.warning("mo.backlog_full", texts=len(b.texts), parts=len(b.parts), backlog=size,
                    bound=bound, answer=f"0x{temp:02X}", action="the SMSC keeps them and retries")
        # Sets of parts claimed from Redis stay claimed: queued after their claim lapses.
        b.settled.extend((owners, temp) for owners in b.owners if owners)
        b.settled.extend(([h.arrival], temp) for h in b.parts)
        b.texts, b.owners, b.parts = [], [], []

    def _queue(self, b: _Batch) -> bool:
        ok_status, temp = c.ESME_ROK, self._settings.smpp.temporary_error_status
        self._over_backlog(b)
        part_status = self._hold_parts(b)
        held_any = any(st == ok_status for _, st in part_status)
        replicas_ok = True
        queued = True
        conn = b.link.conn_id if b.link is not None else "-"
        if b.texts or b.deliveries:
            try:
                self._events.enqueue(b.texts, b.deliveries, uuid.uuid4().hex, conn,
                                     wait_also=held_any,
                                     unsure=self._unsure)
            except redis.RedisError as exc:
                queued = False
                # Redis may have run the transaction (or a try of it) and lost only its
                # answer: the SMSC gets the temporary error and redelivers these, on this
                # very bind or the next, where their entries (if Redis has them) must match.
                self._unsure.add(b.texts)
                # Parts are held whatever became of the batch, but maybe not on the replicas.
                replicas_ok = not self._settings.redis.min_replicas_ack \
                    and not isinstance(exc, ReplicasBehind)
                self._metrics.queue_errors.inc()
                log.error("inbound.queue_unavailable", error=str(exc), texts=len(b.texts),
                          answer=f"0x{temp:02X}", hint="the SMSC will redeliver these")
        elif held_any:
            try:
                replicas_ok = self._events.replicas_hold()
            except redis.RedisError:
                replicas_ok = False
            if not replicas_ok:
                log.error("inbound.replicas_behind", parts=len(b.parts),
                          answer=f"0x{temp:02X}", hint="the SMSC will redeliver these parts")
        status = ok_status if queued else temp
        groups: list[tuple[list[Arrival], int]] = [(owners, status) for owners in b.owners]
        groups.append((b.receipts, status))
        groups.extend(b.settled)
        groups.extend(([a], st if replicas_ok else temp) for a, st in part_status)
        answers: dict[SmppLink, list[tuple[int, int]]] = {}
        for arrivals, st in groups:
            for a in arrivals:
                answers.setdefault(a.link, []).append((a.pdu.sequence, st))
        written = {(link.conn_id, seq) for link, pairs in answers.items()
                   for seq in self._answer(link, pairs)}
        if queued:
            # Only texts whose every part was answered leave the pending list; the others
            # are redelivered by the SMSC and must still be recognised then.
            answered: list[QueuedText] = []
            unanswered: list[QueuedText] = []
            for t, owners in zip(b.texts, b.owners, strict=True):
                done = all((a.link.conn_id, a.pdu.sequence) in written for a in owners)
                (answered if done else unanswered).append(t)
            self._events.acknowledged_quietly(answered)
            self._events.unanswered(unanswered)
        if queued and b.texts:
            self._queued_since_read += len(b.texts)
            self._log_queued(b)
        return queued

    def _hold_parts(self, b: _Batch) -> list[tuple[Arrival, int]]:
        """Hold the batch's parts in Redis; the status each part is to be answered with.
        A part that completes its set brings the set's text into the batch."""
        if not b.parts:
            return []
        temp = self._settings.smpp.temporary_error_status
        try:
            results = self._parts.hold([(h.msisdn, h.concat, h.part) for h in b.parts])
        except redis.RedisError as exc:
            self._metrics.queue_errors.inc()
            log.error("inbound.parts_unavailable", error=str(exc), parts=len(b.parts),
                      answer=f"0x{temp:02X}", hint="the SMSC will redeliver these")
            return [(h.arrival, temp) for h in b.parts]
        out = []
        for h, r in zip(b.parts, results, strict=True):
            self._metrics.texts.labels(outcome=_PART_OUTCOME[r.status]).inc()
            if r.status == HoldStatus.BUSY:
                log.info("mo.part_busy", msisdn=mask(h.msisdn), ref=h.concat.ref,
                         part=h.concat.seq, total=h.concat.total, answer=f"0x{temp:02X}",
                         reason="its set is being queued without it")
            out.append((h.arrival, temp if r.status == HoldStatus.BUSY else c.ESME_ROK))
            if r.completed is not None:
                self._add_set_text(b, r.completed)
        return out

    def _sweep(self) -> list[HeldSet]:
        """Sets of parts whose time has come, whoever received them (at most every
        SWEEP_INTERVAL)."""
        now = time.monotonic()
        if now < self._next_sweep:
            return []
        self._next_sweep = now + SWEEP_INTERVAL
        try:
            return self._parts.claim_due()
        except redis.RedisError as exc:
            log.debug("parts.sweep_failed", error=str(exc))
            return []

    def _log_queued(self, b: _Batch) -> None:
        """One info line per batch naming every correlation id (grep finds a text's), the
        per-text detail at debug (a line per text cost more CPU than the rest of its work)."""
        fresh = [t for t in b.texts if not t.duplicate]
        dups = [t for t in b.texts if t.duplicate and t.held is None]
        # deliver_sm by outcome: a long text's parts were counted as they were held
        whole = sum(1 for t in fresh if t.held is None)
        if whole:
            self._metrics.texts.labels(outcome="queued").inc(whole)
        if dups:
            self._metrics.texts.labels(outcome="duplicate").inc(len(dups))
        self.queued += len(fresh)
        self._metrics.batch_size.observe(len(b.texts))
        for t in b.texts:
            if t.held is not None:
                self._log_long_text(t, t.held)
        log.info("mo.queued", count=len(fresh), conn=b.link.conn_id if b.link else "-",
                 correlation_ids=[t.request.correlation_id for t in fresh],
                 **({"duplicates": [t.request.correlation_id for t in dups]} if dups else {}))
        if log.isEnabledFor(logging.DEBUG):
            for t in b.texts:
                log.debug("mo.duplicate" if t.duplicate else "mo.queued_text",
                          correlation_id=t.request.correlation_id, msisdn=t.msisdn,
                          action=t.request.action, consent=t.request.consent,
                          received_at=iso(t.request.received_at))

    def _answer(self, link: SmppLink, pairs: list[tuple[int, int]]) -> set[int]:
        """Write deliver_sm_resp (sequence, status) pairs on ``link``; only what that
        session still owes is written (parts held from a dead link are not answered: the
        SMSC redelivers them). Returns the sequence numbers written."""
        if link is None or not pairs:
            return set()
        written = link.respond(pairs)
        for _seq, st in written:
            self._metrics.deliver_resp.labels(status=f"0x{st:02X}").inc()
        if len(written) < len(pairs):
            self._metrics.answers_not_sent.inc(len(pairs) - len(written))
            log.info("mo.answer_not_sent", conn=link.conn_id, count=len(pairs) - len(written),
                     reason="owed on an earlier connection, or the write failed",
                     action="the SMSC redelivers them")
        return {seq for seq, _st in written}

    # ------------------------------------------------------------ classification
    def _classify(self, a: Arrival, b: _Batch) -> None:
        pdu = a.pdu
        self.received += 1
        ok = c.ESME_ROK
        if a.kind != sm.DeliverKind.TEXT:
            if a.kind == sm.DeliverKind.RECEIPT:
                r = parse_receipt(pdu)
                if r is not None:
                    b.deliveries.append(ReceiptUpdate(
                        r.message_id, r.stat, datetime.fromtimestamp(a.at, UTC),
                        smsc=a.link.smsc, msisdn=_number(pdu)))
                    b.receipts.append(a)
                    self._metrics.texts.labels(outcome="receipt").inc()
                    return
            self._metrics.texts.labels(outcome="not_a_text").inc()
            log.info("mo.not_a_text", esm_class=hex(pdu.esm_class),
                     action="acknowledged, not a command")
            b.settled.append(([a], ok))
            return
        source = pdu.source_addr
        sender = normalise(source, pdu.source_addr_ton, pdu.source_addr_npi)
        if isinstance(sender, BadSender):
            self._metrics.texts.labels(outcome="bad_sender").inc()
            log.warning("mo.bad_sender", reason=sender.reason, source_addr=source,
                        action="acknowledged; no consent or reply for this sender")
            b.settled.append(([a], ok))
            return
        msisdn = sender.digits
        if is_short_number(msisdn, self._settings.smpp.short_number):
            self._metrics.texts.labels(outcome="loop").inc()
            log.warning("mo.from_short_number", action="acknowledged; never answered (loop)")
            b.settled.append(([a], ok))
            return
        if not self._ours(pdu.destination_addr):
            status = self._settings.smpp.wrong_destination_status
            self._metrics.texts.labels(outcome="wrong_destination").inc()
            log.warning("mo.wrong_destination", destination_addr=pdu.destination_addr,
                        msisdn=mask(msisdn), answer=f"0x{status:02X}",
                        action="not a command for us: no consent, no reply")
            b.settled.append(([a], status))
            return
        decoded = decode_text(pdu.short_message, pdu.data_coding, esm_class=pdu.esm_class,
                              message_payload=pdu.message_payload or None)
        if not isinstance(decoded, DecodeError) and decoded.concat is not None \
                and is_part(decoded.concat):
            # Held in Redis under consent_core.concat's key for its set; a 1-of-1 "part"
            # is no part (is_part) and never joins a set.
            part = Part(decoded.concat.seq, decoded.text, decoded.data_coding,
                        pdu.body.hex(), fingerprint(msisdn, [pdu]), a.at,
                        self._smsc_fields(a, 1))
            b.parts.append(_HeldPart(a, msisdn, decoded.concat, part))
            return
        self._add_text(b, [a], decoded, msisdn)

    def _ours(self, destination: str) -> bool:
        """SPEC §4: only texts addressed to our number (or a configured alias) count."""
        numbers = (self._settings.smpp.short_number, *self._settings.smpp.accepted_destinations)
        return bool(destination) and any(is_short_number(destination, n) for n in numbers)

    def _smsc_fields(self, a: Arrival, parts: int) -> dict[str, Any]:
        pdu = a.pdu
        return {
            "source_addr": pdu.source_addr, "source_ton": pdu.source_addr_ton,
            "source_npi": pdu.source_addr_npi, "destination_addr": pdu.destination_addr,
            "esm_class": pdu.esm_class, "sequence": pdu.sequence, "parts": parts,
            "gateway": self._instance, "conn": a.link.conn_id,
        }

    def _add_text(self, b: _Batch, arrivals: list[Arrival], decoded: Any, msisdn: str) -> None:
        first = arrivals[0]
        raw = b"".join(x.pdu.body for x in arrivals)
        smsc = self._smsc_fields(first, len(arrivals))
        if isinstance(decoded, DecodeError):
            text, data_coding = None, decoded.data_coding
            smsc["decode_error"] = decoded.reason
        else:
            text, data_coding = decoded.text, decoded.data_coding
            if decoded.notes:
                smsc["decode_notes"] = list(decoded.notes)
        self._append(b, arrivals, msisdn, first.at, text, data_coding, raw, smsc,
                     fingerprint(msisdn, [x.pdu for x in arrivals]))

    def _add_set_text(self, b: _Batch, held: HeldSet) -> None:
        """The text of a set of parts held in Redis; its parts were answered when held."""
        first = held.parts[0]
        smsc = dict(first.smsc)
        smsc["parts"] = len(held.parts)
        smsc["concat"] = {"ref": held.ref, "total": held.total, "how": held.how,
                          "conns": sorted({str(p.smsc.get("conn", "")) for p in held.parts})}
        raw = bytes.fromhex("".join(p.body_hex for p in held.parts))
        self._append(b, [], held.msisdn, first.at, held.text, first.data_coding, raw, smsc,
                     "set:" + held.key, held)

    def _append(self, b: _Batch, owners: list[Arrival], msisdn: str, at: float,
                text: str | None, data_coding: int, raw: bytes, smsc: dict[str, Any],
                fp: str, held: HeldSet | None = None) -> None:
        command = None if text is None else parse(text, CONSENTS)
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
        try:
            # ingest_seq is assigned where every gateway's texts meet (EventQueue.enqueue).
            request = ChangeRequest(
                event_id=event_id, msisdn=msisdn, action=action, consent=consent,
                channel="sms", received_at=datetime.fromtimestamp(at, UTC),
                text=text, raw_hex=raw.hex(),
                data_coding=data_coding, correlation_id=event_id[:16], smsc=smsc,
            )
        except BadRequest as exc:  # cannot happen for a normalised sender; never a crash
            self._metrics.texts.labels(outcome="invalid").inc()
            log.error("mo.invalid_request", error=str(exc), msisdn=mask(msisdn),
                      action="acknowledged; no consent or reply")
            b.settled.append((owners, c.ESME_ROK))
            return
        b.texts.append(QueuedText(request=request, fingerprint=fp, held=held))
        b.owners.append(owners)
        self.last_text_at = at

    def _log_long_text(self, t: QueuedText, held: HeldSet) -> None:
        if t.duplicate:  # another instance had claimed the set meanwhile and queues it
            log.info("parts.set_taken_elsewhere", msisdn=mask(held.msisdn), ref=held.ref,
                     total=held.total)
            return
        self._metrics.long_texts.labels(how=held.how).inc()
        fields = {"msisdn": mask(held.msisdn), "ref": held.ref, "total": held.total,
                  "parts": len(held.parts), "correlation_id": t.request.correlation_id}
        if held.how == HowClaimed.COMPLETED:
            log.info("parts.set_completed", **fields)
        elif held.how == HowClaimed.CLAIMED:
            log.warning("parts.set_claimed", **fields, complete=held.complete,
                        reason="the instance that had claimed it did not queue it in time")
        else:
            log.warning("mo.concat_incomplete", **fields, reason="timeout",
                        action="queued as received (help reply)")


_PART_OUTCOME = {HoldStatus.HELD: "part", HoldStatus.COMPLETE: "part",
                 HoldStatus.DUPLICATE: "part_duplicate", HoldStatus.BUSY: "part_busy"}


def _number(pdu: ShortMessage) -> str:
    """A receipt's source: the number our reply went to, in international digits."""
    n = normalise(pdu.source_addr, pdu.source_addr_ton, pdu.source_addr_npi)
    return pdu.source_addr.lstrip("+") if isinstance(n, BadSender) else n.digits


def fingerprint(msisdn: str, parts: list[ShortMessage]) -> str:
    """A text as the SMSC sent it: number, and each part's coding and octets."""
    fp = hashlib.blake2b(digest_size=10)
    fp.update(msisdn.encode())
    for sm_ in parts:
        fp.update(bytes([sm_.data_coding]))
        fp.update(sm_.short_message)
        fp.update(sm_.message_payload or b"")
    return fp.hexdigest()

