"""The deliverer: each subscription's changes, in feed order, signed, at least once.

For one subscription a *round* leases its row, reads the feed after its position
(``api_reads.changes_after``, the same reads as ``GET /v1/changes``), and POSTs each change
it wants, one request per change, in order. A 2xx moves the stored position past the
change; anything else (an error status, a timeout, a refused connection) ends the round:
the position stays, the next try waits ``backoff(attempts)`` and, once the subscription
has been failing for ``webhooks.park_after``, it is parked until an operator replays it.
Since the position moves only after the receiver accepted, a crash between the two sends
that change again: delivery is at least once, and each event carries its ledger event id
(``webhook-id``) and feed position so the receiver can deduplicate.

Signatures follow Standard Webhooks (standardwebhooks.com): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, computed by the ``standardwebhooks`` library. Every "now" comes
from the injected clock, so backoff and parking are tested without waiting.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Engine
from standardwebhooks import Webhook

from config.settings import WebhookSettings
from consent_core.backoff import backoff
from consent_core.clock import Clock, system_clock
from consent_store import api_reads
from consent_store import webhooks as subs
from consent_webhooks import metrics

log = structlog.get_logger("webhooks")


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one round did: events accepted, and the state it left (None: not claimed)."""

    delivered: int
    state: str | None
    error: str | None = None


def payload(change: dict[str, Any]) -> bytes:
    """The body of one event: Standard Webhooks' ``type``/``timestamp``/``data`` shape,
    ``data`` being the change exactly as ``GET /v1/changes`` lists it."""
    return json.dumps({"type": f"consent.{change['outcome']}",
                       "timestamp": change["applied_at"], "data": change},
                      separators=(",", ":"), ensure_ascii=False).encode()


FEED_CHANNEL = "consent_feed"  # NOTIFYed by a trigger on the ledger (revision 0019_webhooks)


class FeedWaker:
    """Waits until a ledger insert commits (PostgreSQL ``LISTEN consent_feed``) or the
    timeout passes. On SQLite, or while the listening connection is down, it just sleeps:
    the deliverer then finds new changes at its next look, as before."""

    RETRY = 5.0  # seconds between tries to listen again after the connection failed

    def __init__(self, engine: Engine) -> None:
        self._url = (engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                     if engine.dialect.name == "postgresql" else None)
        self._conn: Any = None
        self._retry_at = 0.0
        self._failing = False

    def _listen(self) -> Any:
        if self._conn is None and self._url is not None and time.monotonic() >= self._retry_at:
            import psycopg

            try:
                conn = psycopg.connect(self._url, autocommit=True,
                                       connect_timeout=max(1, int(self.RETRY)))
                conn.execute(f"LISTEN {FEED_CHANNEL}")
                self._conn = conn
                if self._failing:
                    log.info("webhooks.listening_again")
                self._failing = False
            except psycopg.Error as exc:
                self._retry_at = time.monotonic() + self.RETRY
                if not self._failing:  # once per outage, not every look
                    log.warning("webhooks.listen_failed", error=str(exc).splitlines()[0][:200],
                                retry_every=self.RETRY)
                self._failing = True
        return self._conn

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """True when woken by a commit, False after ``timeout`` seconds without one."""
        conn = self._listen()
        if conn is None:
            if stop is not None:
                stop.wait(timeout)
            else:
                threading.Event().wait(timeout)
            return False
        try:
            woken = False
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                woken = True
            return woken
        except Exception as exc:  # the connection died: sleep this time, reconnect next
            log.warning("webhooks.listen_lost", error=str(exc).splitlines()[0][:200])
            self.close()
            return False

    def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None


class Deliverer:
    def __init__(self, engine: Engine, settings: WebhookSettings, *, clock: Clock = system_clock,
                 owner: str | None = None) -> None:
        self.engine = engine
        self.s = settings
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._clients: dict[int, httpx.Client] = {}
        self._lock = threading.Lock()
        # Per subscription: when the oldest change it has not been delivered was applied.
        self._pending_since: dict[int, datetime | None] = {}
        self._gauged: set[int] = set()  # subscriptions with parked/lag series

    @property
    def lease(self) -> timedelta:
        # Long enough for a round's worst case: every event of a batch at the timeout.
        return timedelta(seconds=self.s.timeout * 2 + 30)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _client(self, sub_id: int) -> httpx.Client:
        with self._lock:
            client = self._clients.get(sub_id)
            if client is None:
                # One keep-alive connection per subscription: a withdrawal goes out without a
                # new TCP (and TLS) handshake. Redirects are not followed: a receiver that
                # moved is told by its operator, not by a 3xx.
                client = httpx.Client(timeout=self.s.timeout, follow_redirects=False,
                                      headers={"user-agent": "consent-webhooks"})
                self._clients[sub_id] = client
            return client

    # --- one subscription ------------------------------------------------------------

    def round(self, sub_id: int) -> RoundResult:
        """Deliver what subscription ``sub_id`` is owed, in order, until it is caught up,
        a try fails, or ``webhooks.batch`` events went out."""
        now = self.clock()
        sub = subs.claim(self.engine, sub_id, self.owner, now, self.lease)
        if sub is None:
            return RoundResult(0, None)
        delivered = 0
        stored = sub.position
        released = False  # the lease goes with the round's last write: one commit fewer
        try:
            with self.engine.connect() as conn:
                page = api_reads.changes_after(conn, sub.position, self.s.batch)
            signer = Webhook(sub.secret)
            for change in page.changes:
                if not sub.wants(change):
                    continue
                error = self._post(sub, signer, change)
                now = self.clock()
                applied = datetime.fromisoformat(change["applied_at"])
                if error is not None:
                    metrics.DELIVERIES.labels(webhook=str(sub.id), result="failed").inc()
                    released = True  # failed() clears the lease in its own write
                    return self._failed(sub, now, error, applied, delivered)
                metrics.DELIVERIES.labels(webhook=str(sub.id), result="ok").inc()
                metrics.DELAY.observe(max(0.0, (now - applied).total_seconds()))
                delivered += 1
                last = change["position"] >= page.next  # nothing after it on this page
                if not subs.advance(self.engine, sub.id, self.owner, change["position"], now,
                                    now + self.lease, release=last):
                    released = True
                    return RoundResult(delivered, None, "lease lost")
                stored, released = change["position"], last
            if not released and page.next > stored:
                subs.advance(self.engine, sub.id, self.owner, page.next, None,
                             self.clock() + self.lease, release=True)
                released = True
            self._pending_since[sub.id] = None
            metrics.LAG.labels(webhook=str(sub.id)).set(0)
            metrics.PARKED.labels(webhook=str(sub.id)).set(0)
            return RoundResult(delivered, subs.ACTIVE)
        finally:
            if not released:
                subs.release(self.engine, sub.id, self.owner)

    def _failed(self, sub: subs.Subscription, now: datetime, error: str, applied: datetime,
                delivered: int) -> RoundResult:
        # A success earlier in this round reset the count: start the backoff afresh.
        attempts = 0 if delivered else sub.attempts
        wait = backoff(attempts, self.s.retry_first, self.s.retry_max)
        state = subs.failed(self.engine, sub.id, self.owner, now, error,
                            now + timedelta(seconds=wait), timedelta(seconds=self.s.park_after))
        self._pending_since[sub.id] = applied
        metrics.LAG.labels(webhook=str(sub.id)).set(max(0.0, (now - applied).total_seconds()))
        metrics.PARKED.labels(webhook=str(sub.id)).set(1 if state == subs.PARKED else 0)
        log.warning("webhook.failed", webhook=sub.id, url=sub.url, error=error,
                    attempts=attempts + 1, state=state,
                    retry_in=None if state == subs.PARKED else round(wait, 1))
        return RoundResult(delivered, state, error)

    def _post(self, sub: subs.Subscription, signer: Webhook, change: dict[str, Any]) -> str | None:
        """POST one event; None when the receiver accepted it (2xx), else why not."""
        body = payload(change)
        msg_id = str(change["event_id"])
        sent_at = self.clock()
        headers = {"content-type": "application/json", "webhook-id": msg_id,
                   "webhook-timestamp": str(int(sent_at.timestamp())),
                   "webhook-signature": signer.sign(msg_id, sent_at, body)}
        try:
            response = self._client(sub.id).post(sub.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"no answer within {self.s.timeout:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    # --- every subscription ----------------------------------------------------------

    def run_once(self) -> list[RoundResult]:
        """One round for every due subscription, one after another (tests, `--once`)."""
        return [self.round(sub.id) for sub in subs.due(self.engine, self.clock())]

    def refresh_gauges(self) -> None:
        """Parked and lag gauges from the stored subscriptions; a removed subscription's
        series go away (a parked one would otherwise alert for ever)."""
        now = self.clock()
        current = subs.subscriptions(self.engine)
        for sub in current:
            label = str(sub.id)
            metrics.PARKED.labels(webhook=label).set(1 if sub.state == subs.PARKED else 0)
            since = self._pending_since.get(sub.id)
            if since is not None:
                metrics.LAG.labels(webhook=label).set(max(0.0, (now - since).total_seconds()))
        for gone in self._gauged - {s.id for s in current}:
            for gauge in (metrics.PARKED, metrics.LAG):
                with suppress(KeyError):
                    gauge.remove(str(gone))
            self._pending_since.pop(gone, None)
        self._gauged = {s.id for s in current}

    def run(self, stop: threading.Event, on_tick: Any = None) -> None:
        """Deliver until ``stop`` is set: every ``poll_interval`` each due subscription
        that has something new (or a retry due) gets a round on the pool, one round per
        subscription at a time, so a slow receiver holds up only its own events."""
        running: dict[int, Future[RoundResult]] = {}
        gauges_at = 0.0
        waker = FeedWaker(self.engine)
        failing = False
        with ThreadPoolExecutor(self.s.concurrency, thread_name_prefix="webhook") as pool:
            while not stop.is_set():
                try:
                    with self.engine.connect() as conn:
                        latest = api_reads.latest_position(conn)
                    for sub in subs.due(self.engine, self.clock()):
                        busy = running.get(sub.id)
                        if busy is not None and not busy.done():
                            continue
                        if sub.position >= latest and sub.attempts == 0:
                            continue  # caught up: nothing to send
                        running[sub.id] = pool.submit(self._round_logged, sub.id)
                    now = self.clock().timestamp()
                    if now - gauges_at >= 5:
                        self.refresh_gauges()
                        gauges_at = now
                    if failing:
                        log.info("webhooks.database_back")
                        failing = False
                except Exception as exc:  # the database went away: try again next tick
                    if not failing:  # once per outage, not ten times a second
                        log.warning("webhooks.tick_failed",
                                    error=str(exc).splitlines()[0][:200])
                    failing = True
                if on_tick is not None:
                    on_tick()
                # A commit wakes the loop at once; poll_interval bounds the wait for retries
                # due, rounds that were busy and a listening connection that is down.
                waker.wait(self.s.poll_interval, stop)
        waker.close()
        self.close()

    def _round_logged(self, sub_id: int) -> RoundResult:
        try:
            return self.round(sub_id)
        except Exception:
            log.exception("webhook.round_failed", webhook=sub_id)
            return RoundResult(0, None, "round failed")
