"""Outbound: reply queue → submit_sm, within a window and a rate, until the SMSC accepts.

A reply leaves Redis only when every part of it has been answered ``submit_sm_resp`` 0.
ESME_RTHROTTLED and ESME_RMSGQFUL pause the sender and the part is sent again; a
permanent error is recorded against the reply; a dead link puts parts back to be resent
on the next bind.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import redis
import structlog

from config.settings import Settings
from consent_core.changes import SubmitResult
from consent_core.clock import Clock, system_clock
from consent_core.encode import Part, encode_sms
from consent_queue.events import EventQueue
from consent_queue.replies import Reply, ReplyQueue
from gateway.metrics import GatewayMetrics
from gateway.smpp_link import SmppLink
from smpp import codec
from smpp import constants as c
from smpp import session as sm

log = structlog.get_logger("gateway.outbound")
TAKE_BLOCK_S = 0.5  # the taker's longest wait in BLMOVE; stopping waits for it at most this


@dataclass(slots=True)
class _Out:
    raw: str
    reply: Reply
    parts: list[Part]
    done: list[str | None]  # message_id per part once accepted
    errors: int = 0
    failed: bool = False
    part_attempts: dict[int, int] = field(default_factory=dict)


class Outbound:
    def __init__(self, settings: Settings, replies: ReplyQueue, client: redis.Redis,
                 events: EventQueue, metrics: GatewayMetrics, instance: str,
                 clock: Clock = system_clock) -> None:
        self._settings = settings
        self._clock = clock
        self._replies = replies
        self._redis = client
        self._events = events  # submit results go to its delivery sink
        self._metrics = metrics
        self._instance = instance
        self._cond = threading.Condition()
        self._ready: deque[tuple[_Out, int]] = deque()  # parts waiting to be submitted
        self._inflight: dict[int, tuple[_Out, int]] = {}  # by token (the session's context)
        self._tokens_ids = itertools.count(1)
        self.last_accepted: float | None = None
        self._due_since: float | None = None
        self._outs: int = 0  # replies taken and not finished
        self._link: SmppLink | None = None
        self._pause_until = 0.0
        self._stop = False
        self._taking = True
        self._refs = itertools.count()
        self._finished: list[str] = []
        self._accepted_ids: list[str] = []  # correlation ids accepted since the last flush
        self._tokens = 0.0
        self._tok_at = time.monotonic()
        self._taker: threading.Thread | None = None
        self._flush_lock = threading.Lock()  # finished replies leaving Redis; _resync
        self.sent = 0

    # ------------------------------------------------------------ control
    def attach(self, link: SmppLink) -> None:
        with self._cond:
            self._link = link
            self._cond.notify_all()

    def detach(self) -> None:
        with self._cond:
            self._link = None
            # Whatever was in flight on the dead link is submitted again on the next one.
            for token in sorted(self._inflight, reverse=True):
                self._ready.appendleft(self._inflight[token])
            self._inflight.clear()

    def stop_taking(self) -> None:
        with self._cond:
            self._taking = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        # A reply the taker moves into our in-flight list after this would wait there until
        # the next start (or another gateway's adoption): let its last BLMOVE return first.
        taker = self._taker
        if taker is not None and taker is not threading.current_thread():
            taker.join(TAKE_BLOCK_S + 2.0)

    def idle(self) -> bool:
        with self._cond:
            return not self._inflight and not self._ready and self._outs == 0

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.05)
        return self.idle()

    # ------------------------------------------------------------ loop
    def run(self) -> None:
        taker = threading.Thread(target=self._take_loop, name="outbound-take", daemon=True)
        self._taker = taker
        taker.start()
        window = self._settings.smpp.submit_window
        last_flush = 0.0
        while True:
            now = time.monotonic()
            with self._cond:
                finished = len(self._finished)
            # Accepted replies leave Redis in batches: one round trip per 64 or per 20 ms.
            if finished >= 64 or (finished and now - last_flush >= 0.02):
                self._flush_finished()
                last_flush = now
            self._queue_deliveries()
            with self._cond:
                if self._stop:
                    self._flush_finished()
                    self._queue_deliveries(force=True)
                    return
                link = self._link
                room = window - len(self._inflight)
                paused = now < self._pause_until
            room = min(room, link.window_free) if link is not None and link.bound else 0
            if link is None or paused or room <= 0 or not self._ready:
                with self._cond:
                    if paused:
                        timeout = max(0.001, self._pause_until - time.monotonic())
                    else:
                        timeout = 0.02 if self._finished or len(self._events.deliveries) \
                            else 0.1
                    # room is 0 without a bound link; only _ready moves meanwhile
                    if not self._stop and (paused or room <= 0 or not self._ready):
                        self._cond.wait(timeout)
                continue
            self._submit_some(link, room)

    def _take_loop(self) -> None:
        """Move replies from the queue into this gateway's in-flight list while fewer than
        two windows' worth of parts wait to be submitted.

        Its own thread, blocked in BLMOVE while the queue is empty, so a reply a worker
        pushes is picked up at once rather than at the sender's next look. One round trip
        takes up to a window's worth once something is there.
        """
        window = self._settings.smpp.submit_window
        resync = False
        while True:
            with self._cond:
                while not self._stop and self._taking and not (
                        self._link is not None and self._link.bound
                        and len(self._ready) < window):
                    self._cond.wait(0.1)
                if self._stop or not self._taking:
                    return
                want = window * 2 - len(self._ready)
            try:
                if resync:
                    self._resync()
                    resync = False
                raws = self._replies.take(self._instance, max(1, want))
                if not raws:
                    raws = self._replies.take_waiting(self._redis, self._instance,
                                                      TAKE_BLOCK_S)
            except redis.RedisError as exc:
                log.warning("replies.unavailable", error=str(exc), action="retrying in 1s")
                # The take may have run with its answer lost on the way (Redis shut down
                # right after it): what it moved would wait in our in-flight list until
                # the next start. Once Redis answers again, look (_resync).
                resync = True
                time.sleep(1.0)
                continue
            for raw in raws:
                self._admit(raw)
            if raws:
                with self._cond:
                    self._cond.notify_all()

    def _resync(self) -> None:
        """Admit the replies in our in-flight list that this process does not hold: moved
        there by a take whose answer never arrived. Under the flush lock, so a reply
        accepted and being removed from the list is not taken for one of those."""
        with self._flush_lock:
            listed = self._replies.in_flight(self._instance)
            with self._cond:
                held = {o.raw for o, _ in self._ready}
                held.update(o.raw for o, _ in self._inflight.values())
                held.update(self._finished)
            missing = [raw for raw in listed if raw not in held]
        if missing:
            self._metrics.replies_resynced.inc(len(missing))
            log.warning("replies.resynced", count=len(missing),
                        reason="taken from the queue by a call whose answer was lost",
                        action="submitting them now")
        for raw in missing:
            self._admit(raw)

    def _admit(self, raw: str) -> None:
        try:
            reply = Reply.loads(raw)
        except (ValueError, TypeError) as exc:
            log.error("replies.unreadable", error=str(exc), action="dropped from the queue")
            self._drop(raw)
            return
        if not reply.msisdn.isdigit() or reply.msisdn == self._settings.smpp.short_number:
            log.error("replies.refused_destination", correlation_id=reply.correlation_id,
                      action="never sent (loop or non-numeric destination)")
            self._drop(raw)
            return
        try:
            parts = encode_sms(reply.text, ref=next(self._refs) % 256)
        except ValueError as exc:
            log.error("replies.unencodable", correlation_id=reply.correlation_id, error=str(exc))
            self._drop(raw)
            return
        out = _Out(raw=raw, reply=reply, parts=parts, done=[None] * len(parts))
        with self._cond:
            self._outs += 1
            if self._due_since is None:
                self._due_since = time.monotonic()
            for i in range(len(parts)):
                self._ready.append((out, i))

    def _drop(self, raw: str) -> None:
        """A reply that will never be sent leaves the in-flight list with the next flush.
        Under the lock: the sender swaps the list under it (_flush_finished)."""
        with self._cond:
            self._finished.append(raw)

    def _queue_deliveries(self, *, force: bool = False) -> None:
        """Submit results no batch of texts took along within the sink's linger."""
        try:
            self._events.queue_due_deliveries(force=force)
        except redis.RedisError as exc:
            log.warning("deliveries.unavailable", error=str(exc), waiting=len(self._events.deliveries),
                        action="kept; queued with the next batch or try")

    def _submit_some(self, link: SmppLink, room: int, *, may_wait: bool = True) -> None:
        """Submit up to ``room`` waiting parts, written to the socket in one go.
        ``may_wait``: False on the link's I/O thread, which must never sleep."""
        rate = self._settings.smpp.submit_rate
        batch: list[tuple[Callable[[int], bytes], int]] = []
        with self._cond:
            while len(batch) < room:
                if rate > 0 and not self._token(rate):
                    break
                # After detach() a part put in flight on the dead link would never be resent.
                if not self._ready or self._link is not link or time.monotonic() < self._pause_until:
                    break
                out, idx = self._ready.popleft()
                token = next(self._tokens_ids)
                self._inflight[token] = (out, idx)
                batch.append((partial(self._frame, out=out, idx=idx), token))
            if batch:
                self._cond.notify_all()  # room in the ready queue: the taker may refill it
        if not batch:
            if rate > 0 and may_wait:
                time.sleep(min(0.01, 1.0 / rate))
            return
        sent = link.submit(batch, timeout=self._settings.smpp.submit_timeout)
        if len(sent) < len(batch):  # the window closed or the link went: put the rest back
            with self._cond:
                for _frame_for, token in reversed(batch[len(sent):]):
                    item = self._inflight.pop(token, None)
                    if item is not None:
                        self._ready.appendleft(item)

    def _frame(self, seq: int, *, out: _Out, idx: int) -> bytes:
        part = out.parts[idx]
        # One receipt per reply is enough: ask for it on the last part only (the reply's
        # recorded message_id is the last part's).
        last = idx == len(out.parts) - 1
        return codec.encode_submit_sm(
            seq, self._settings.smpp.short_number, 0, 1, out.reply.msisdn, 1, 1, part.esm_class,
            part.data_coding, part.short_message,
            registered_delivery=1 if self._settings.smpp.registered_delivery and last else 0)

    def _token(self, rate: float) -> bool:
        now = time.monotonic()
        self._tokens = min(rate, self._tokens + (now - self._tok_at) * rate)
        self._tok_at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    # ------------------------------------------------------------ responses (I/O thread)
    def on_response(self, link: SmppLink,
                    event: sm.Response | sm.RequestFailed | sm.TimedOut) -> None:
        """A submit_sm's outcome, as the session matched it (command and sequence)."""
        recycle = ""
        with self._cond:
            item = self._inflight.pop(event.request.context, None)
            if item is None:
                return  # already handed back by detach()
            out, idx = item
            if isinstance(event, sm.TimedOut):
                self._metrics.submit_timeouts.inc()
                self._ready.appendleft((out, idx))
                action = self._settings.smpp.submit_timeout_action
                log.warning("mt.submit_timeout", correlation_id=out.reply.correlation_id,
                            sequence=event.request.sequence,
                            timeout_s=self._settings.smpp.submit_timeout, action=action)
                if action == "rebind":
                    recycle = f"no submit_sm_resp within {self._settings.smpp.submit_timeout:g}s"
                self._cond.notify_all()
            else:
                status = event.status
                message_id = event.message_id if isinstance(event, sm.Response) else None
                self._result(out, idx, status, message_id, link.smsc)
        if recycle:
            link.close(recycle)
            return
        self._submit_next(link)

    def _submit_next(self, link: SmppLink) -> None:
        """On the link's I/O thread, right after a response freed a window slot: the parts
        waiting go out at once, with no hand-over to the sender thread and back (at
        saturation every response frees a slot: a wake and two thread switches each)."""
        with self._cond:
            if self._link is not link or not self._ready \
                    or time.monotonic() < self._pause_until:
                return
            room = self._settings.smpp.submit_window - len(self._inflight)
        room = min(room, link.window_free)
        if room > 0:
            self._submit_some(link, room, may_wait=False)

    def _result(self, out: _Out, idx: int, status: int, message_id: str | None,
                smsc: str = "") -> None:
        """Lock held."""
        self._metrics.submits.labels(status=f"0x{status:02X}").inc()
        if status == c.ESME_ROK and message_id is not None:
            out.done[idx] = message_id
            self.last_accepted = time.monotonic()
            if all(d is not None for d in out.done):
                self._complete(out, smsc)
        elif status in c.THROTTLING:
            # SPEC §6: slow down and retry, never drop. Kannel pauses 1 s likewise.
            self._metrics.throttled.inc()
            self._pause_until = time.monotonic() + self._settings.smpp.throttle_pause
            self._ready.appendleft((out, idx))
            log.info("mt.throttled", status=c.status_name(status),
                     pause_s=self._settings.smpp.throttle_pause,
                     correlation_id=out.reply.correlation_id)
        elif (status in c.RETRYABLE_SUBMIT or message_id is None) \
                and out.errors + 1 < self._settings.smpp.max_submit_attempts:
            out.errors += 1
            self._pause_until = time.monotonic() + min(30.0, 0.5 * 2 ** out.errors)
            self._ready.appendleft((out, idx))
        elif not out.failed:
            out.failed = True
            self._fail(out, status)
        self._cond.notify_all()

    def stalled(self, now: float) -> bool:
        """Replies are due and none was accepted for ``gateway.reply_stall_timeout``."""
        with self._cond:
            due = bool(self._inflight or self._ready)
            if not due:
                self._due_since = None
                return False
            if self._due_since is None:
                self._due_since = now
            since = max(self._due_since, self.last_accepted or 0.0)
        return now - since >= self._settings.gateway.reply_stall_timeout

    def _complete(self, out: _Out, smsc: str = "") -> None:
        self._outs -= 1
        self.sent += 1
        self._finished.append(out.raw)
        self._metrics.replies_sent.inc()
        now = self._clock()
        latency = (now - out.reply.received_at).total_seconds()
        if latency >= 0:
            self._metrics.reply_latency.observe(latency)
        # Per reply at debug; one info line per flush names them all (_flush_finished).
        self._accepted_ids.append(out.reply.correlation_id)
        log.debug("mt.accepted_reply", correlation_id=out.reply.correlation_id,
                  message_id=out.done[-1], parts=len(out.parts))
        self._events.deliveries.add(SubmitResult(out.reply.event_id, out.done[-1], "0x00",
                                                 now, smsc))

    def _fail(self, out: _Out, status: int) -> None:
        self._outs -= 1
        self._finished.append(out.raw)
        self._metrics.replies_failed.inc()
        # Drop its other parts still waiting.
        self._ready = deque(p for p in self._ready if p[0] is not out)
        log.error("mt.failed", correlation_id=out.reply.correlation_id,
                  status=c.status_name(status), action="recorded against the reply")
        self._events.deliveries.add(SubmitResult(out.reply.event_id, None,
                                                 f"0x{status:02X}", self._clock()))

    def _flush_finished(self) -> None:
        with self._flush_lock:
            with self._cond:
                done, self._finished = self._finished, []
                ids, self._accepted_ids = self._accepted_ids, []
            if ids:
                log.info("mt.accepted", count=len(ids), correlation_ids=ids)
            if not done:
                return
            try:
                self._replies.done(self._instance, done)
                return
            except redis.RedisError:
                with self._cond:
                    self._finished[:0] = done
        time.sleep(0.5)
