"""``sms-gateway run``: keeps one SMPP bind up and runs the inbound and outbound loops.

The main thread supervises: it binds (with exponential backoff and jitter), waits for the
session's dead-link verdict (enquire_link, deadlines and protocol state all live in
``smpp.session``, driven by ``gateway.smpp_link``), tells systemd how things are, and on
SIGTERM stops cleanly: no new replies, in-flight work finished or handed back, unbind,
exit 0. ``Gateway`` is also the links' event handler: it routes deliver_sm to the inbound
batcher, submit outcomes to the outbound sender, and counts protocol errors.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
import threading
import time
from typing import Any, cast

import redis
import structlog

from config.notify import Notifier
from config.settings import Settings
from consent_core.backoff import backoff
from consent_core.clock import Clock, system_clock
from consent_core.instants import iso, iso_at
from consent_queue import connection, persistence
from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import Keys
from consent_queue.parts import PartStore
from consent_queue.replies import ReplyQueue
from gateway.errors import BindRefused, LinkError
from gateway.health import HealthServer
from gateway.inbound import Inbound
from gateway.metrics import GatewayMetrics
from gateway.outbound import Outbound
from gateway.smpp_link import SmppLink
from smpp import constants as c
from smpp import session as sm

log = structlog.get_logger("gateway")
# Protocol errors about the peer's answers to our requests (counted apart from bad PDUs).
_PEER_ANSWERS = frozenset({sm.ErrorKind.UNEXPECTED_RESPONSE, sm.ErrorKind.GENERIC_NACK,
                           sm.ErrorKind.GENERIC_NACK_ZERO})


def redis_client(settings: Settings, *, decode: bool = False) -> redis.Redis:
    return connection.redis_client(settings.redis, health_check_interval=10,
                                   decode_responses=decode)


class Gateway:
    def __init__(self, settings: Settings, notifier: Notifier | None = None,
                 clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.instance = settings.gateway.instance or socket.gethostname().split(".")[0]
        self.notifier = notifier or Notifier()
        self.metrics = GatewayMetrics()
        self.keys = Keys.from_settings(settings)
        self.redis = redis_client(settings)
        self.events = EventQueue(self.redis, self.keys, JobOptions(
            timeout=settings.queue.job_timeout, retry_max=settings.queue.retry_max,
            pending_ttl=settings.queue.redelivery_window,
            min_replicas_ack=settings.redis.min_replicas_ack,
            wait_timeout_ms=settings.redis.wait_timeout_ms))
        self.replies = ReplyQueue(self.redis, self.keys)
        parts = PartStore(self.redis, self.keys, timeout=settings.gateway.concat_timeout,
                          instance=self.instance)
        self.inbound = Inbound(settings, self.events, parts, self.metrics, self.instance, clock)
        # The blocking take of replies (BLMOVE) has a connection of its own; replies are text.
        self.outbound = Outbound(settings, self.replies, redis_client(settings, decode=True),
                                 self.events, self.metrics, self.instance, clock)
        self.link: SmppLink | None = None  # the link replies go out on
        self.links: list[SmppLink] = []  # every bound link: one transceiver, or rx + tx
        self.stopping = threading.Event()
        self._link_lost = threading.Event()
        self._conn_counter = 0
        self._threads: list[threading.Thread] = []
        self._bound_since: float | None = None
        self._refusals: set[int] = set()
        self.health = HealthServer(self)
        self.persistence: persistence.PersistenceWatch | None = None

    # ------------------------------------------------------------ public
    def run(self) -> int:
        where = connection.redis_where(self.settings.redis)
        try:
            found = persistence.check_at_start(self.redis, self.settings.redis, where)
        except persistence.PersistenceRefused as exc:
            print(f"sms-gateway: {exc}", file=sys.stderr)
            log.error("gateway.redis_not_persistent", error=str(exc), action="not starting")
            return 2
        except redis.RedisError as exc:  # Redis down at start: texts get the temporary error
            log.warning("gateway.persistence_unknown", redis=where, error=str(exc))
            found = None
        self.persistence = persistence.PersistenceWatch(
            self.redis, self.settings.redis.persistence_check_interval, where)
        self.persistence.start(found)
        self._install_signals()
        self.health.start()
        self._restore_replies()
        for name, target in (("inbound", self.inbound.run), ("outbound", self.outbound.run)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        attempt = 0
        while not self.stopping.is_set():
            delay = self._connect_once(attempt)
            # Bound (even if a link has died since: then supervision ends at once and the
            # loss is logged and cleaned up like any other, not taken for a failed connect).
            if delay is None:
                attempt = 0
                self._supervise(self.links)
                lost = next((link.close_reason for link in self.links if link.close_reason), "")
                delay = self._backoff(0)
                if not self.stopping.is_set():
                    # Said first: closing and detaching can take a while, and an operator
                    # (or a test) reading the log then sees the loss before the rebind.
                    log.warning("smpp.link_lost", reason=lost, retry_in_s=round(delay, 1))
                self._close_all(lost or "link lost")
                self.outbound.detach()
                self.metrics.link_up.set(0)
                self._publish("down")
                if self.stopping.is_set():
                    break
            else:
                attempt += 1
            self._sleep(delay)
        return self._shutdown()

    # ------------------------------------------------------------ binding
    def _connect_once(self, attempt: int) -> float | None:
        """Connect and bind every link: None once bound, else the delay before the next try."""
        s = self.settings.smpp
        self._link_lost.clear()
        # SMPP 3.4 §2.2: a transceiver session carries both directions; otherwise a
        # receiver session brings the texts and a transmitter session takes the replies.
        modes = ["transceiver"] if s.bind_mode == "transceiver" else ["receiver", "transmitter"]
        self.links = []
        for _mode in modes:
            self._conn_counter += 1
            conn_id = (f"{self.instance}.{os.getpid()}.{self._conn_counter}."
                       f"{random.randrange(1 << 30):x}")
            self.links.append(SmppLink(s.host, s.port, conn_id=conn_id, handler=self,
                                       window=s.submit_window,
                                       response_timeout=s.response_timeout,
                                       enquire_link_interval=s.enquire_link_interval))
        self.link = self.links[-1]
        self._publish("binding")
        try:
            for link, mode in zip(self.links, modes, strict=True):
                link.open(mode, s.system_id, s.password.get_secret_value(), s.system_type,
                          timeout=s.response_timeout)
        except BindRefused as exc:
            self._close_all("bind refused")
            self.metrics.reconnects.labels(result="refused").inc()
            if exc.status not in self._refusals:
                self._refusals.add(exc.status)
                log.error("smpp.bind_refused", error=str(exc), system_id=s.system_id,
                          retry_every_s=s.bind_refused_delay,
                          hint="check smpp.system_id and smpp.password")
            else:
                log.debug("smpp.bind_refused_again", status=hex(exc.status))
            if exc.status == c.ESME_RALYBND:
                return self._backoff(attempt)
            return s.bind_refused_delay
        except (LinkError, OSError) as exc:
            self._close_all("connect failed")
            self.metrics.reconnects.labels(result="failed").inc()
            delay = self._backoff(attempt)
            log.warning("smpp.connect_failed", error=str(exc), retry_in_s=round(delay, 1))
            return delay
        self._refusals.clear()
        self.metrics.reconnects.labels(result="bound").inc()
        self.metrics.link_up.set(1)
        self._bound_since = self.clock().timestamp()
        self.outbound.attach(self.link)
        log.info("smpp.bound", smsc=self.link.where, system_id=s.system_id, modes=modes,
                 conn=[link.conn_id for link in self.links])
        self._publish("bound")
        self.notifier.ready(self._status_line())
        return None

    def _backoff(self, attempt: int) -> float:
        s = self.settings.smpp
        return backoff(attempt, s.reconnect_min, s.reconnect_max)

    def _close_all(self, reason: str) -> None:
        for link in self.links:
            link.close(reason)

    # ------------------------------------------------------------ link events (I/O threads)
    def on_deliver(self, link: SmppLink, event: sm.Deliver) -> None:
        self.inbound.offer(link, event)

    def on_response(self, link: SmppLink,
                    event: sm.Response | sm.RequestFailed | sm.TimedOut) -> None:
        self.outbound.on_response(link, event)

    def on_protocol_error(self, link: SmppLink, event: sm.ProtocolError) -> None:
        kind = event.kind
        if kind in _PEER_ANSWERS:
            self.metrics.unexpected_responses.labels(kind=kind).inc()
        elif kind == sm.ErrorKind.DRIVER_CRASHED:
            self.metrics.io_crashes.inc()
        else:
            self.metrics.bad_pdus.labels(kind=kind).inc()
        log.warning("smpp.protocol_error", kind=kind, detail=event.detail,
                    command=c.command_name(event.command_id), sequence=event.sequence,
                    conn=link.conn_id)

    def on_closed(self, link: SmppLink, reason: str) -> None:
        self._link_lost.set()

    # ------------------------------------------------------------ supervision
    def _supervise(self, links: list[SmppLink]) -> None:
        """Wait while every link is alive (the sessions keep them so with enquire_link and
        deadlines); when one dies the caller closes them all and rebinds the set."""
        last_status = 0.0
        while not self.stopping.is_set() and all(link.alive for link in links):
            self._link_lost.wait(1.0)
            now = time.monotonic()
            if not all(link.alive for link in links):
                break
            if self._threads_alive():
                self.notifier.watchdog()
            if now - last_status >= 5:
                last_status = now
                self.notifier.status(self._status_line())
                self._publish("bound")
                self._update_depths()
                self._adopt_replies()

    def _threads_alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    def _sleep(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while not self.stopping.is_set() and time.monotonic() < deadline:
            self.stopping.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            if self._threads_alive():
                self.notifier.watchdog()  # reconnecting is alive, not hung

    # ------------------------------------------------------------ shutdown
    def _install_signals(self) -> None:
        def term(signum: int, frame: Any) -> None:
            if not self.stopping.is_set():
                log.info("gateway.stopping", signal=signal.Signals(signum).name)
                self.notifier.stopping("stopping: finishing in-flight work")
            self.stopping.set()
            self._link_lost.set()

        def hup(signum: int, frame: Any) -> None:
            log.info("gateway.sighup", action="nothing to reload in the gateway; "
                     "catalog texts are read by the workers")

        signal.signal(signal.SIGTERM, term)
        signal.signal(signal.SIGINT, term)
        signal.signal(signal.SIGHUP, hup)

    def _shutdown(self) -> int:
        budget = self.settings.gateway.shutdown_timeout
        deadline = time.monotonic() + budget
        self.outbound.stop_taking()
        alive = [link for link in self.links if link.alive]
        if alive:
            self.outbound.wait_idle(max(0.0, budget / 2))
            for link in alive:  # SMPP 3.4 §4.2: unbind, and wait for unbind_resp
                link.unbind()
            for link in alive:
                link.wait_closed(min(5.0, max(0.1, deadline - time.monotonic())))
        self.inbound.stop()
        for t in self._threads[:1]:
            t.join(max(0.1, deadline - time.monotonic()))
        self._close_all("shutdown")
        self.outbound.stop()
        self.outbound.detach()
        try:  # the last submit results, which no batch of texts will take along now
            self.events.queue_due_deliveries(force=True)
        except redis.RedisError as exc:
            log.warning("deliveries.not_queued", error=str(exc), count=len(self.events.deliveries),
                        action="lost: those replies keep no submit status")
        self._restore_replies()
        self._publish("stopped")
        self.health.stop()
        log.info("gateway.stopped", received=self.inbound.received, queued=self.inbound.queued,
                 replies_sent=self.outbound.sent)
        return 0

    def _adopt_replies(self) -> None:
        try:
            for other, n in self.replies.adopt_gone(self.instance).items():
                log.warning("replies.adopted", instance=other, count=n,
                            reason="that gateway instance is gone (silent for 60 s)",
                            action="its unfinished replies are queued again")
        except redis.RedisError as exc:
            log.debug("replies.adopt_failed", error=str(exc))

    def _restore_replies(self) -> None:
        try:
            n = self.replies.restore(self.instance)
            if n:
                log.info("replies.restored", count=n, action="re-queued replies not yet accepted")
        except redis.RedisError as exc:
            log.warning("replies.restore_failed", error=str(exc))

    # ------------------------------------------------------------ status
    def _status_line(self) -> str:
        link = self.link
        if link is not None and link.bound:
            received = f"{self.inbound.received:,}".replace(",", " ")
            sent = f"{self.outbound.sent:,}".replace(",", " ")
            return (f"bound to {link.where} as {self.settings.smpp.system_id}, "
                    f"{received} MO, {sent} replies since start")
        return "not bound: connecting to " + f"{self.settings.smpp.host}:{self.settings.smpp.port}"

    def _publish(self, state: str) -> None:
        link = self.link
        data = {
            "state": state, "smsc": f"{self.settings.smpp.host}:{self.settings.smpp.port}",
            "system_id": self.settings.smpp.system_id, "pid": str(os.getpid()),
            "since": iso_at(self._bound_since, "seconds") if self._bound_since else "",
            "received": str(self.inbound.received), "queued": str(self.inbound.queued),
            "replies_sent": str(self.outbound.sent),
            "last_text_at": iso_at(self.inbound.last_text_at, "seconds")
            if self.inbound.last_text_at else "",
            "updated_at": iso(self.clock(), "seconds"),
            "close_reason": link.close_reason if link else "",
        }
        try:
            with self.redis.pipeline(transaction=False) as p:
                p.hset(self.keys.link_state(self.instance), mapping=cast("dict[Any, Any]", data))
                p.expire(self.keys.link_state(self.instance), 60)
                p.sadd(self.keys.gateways, self.instance)
                p.execute()
        except redis.RedisError:
            pass

    def _update_depths(self) -> None:
        try:
            for name, depth in self.events.depths().items():
                self.metrics.queue_depth.labels(queue=name).set(depth)
            self.metrics.queue_depth.labels(queue="replies").set(self.replies.depth())
        except redis.RedisError:
            pass

    def healthy(self) -> tuple[bool, dict[str, Any]]:
        bound = bool(self.links) and all(lk.bound and lk.alive for lk in self.links)
        try:
            redis_ok = bool(self.redis.ping())
        except redis.RedisError:
            redis_ok = False
        replies_flowing = not self.outbound.stalled(time.monotonic())
        checks: dict[str, Any] = {"smpp_bound": bound, "redis": redis_ok,
                                  "threads": self._threads_alive(),
                                  "replies_flowing": replies_flowing}
        kept = self.persistence.last if self.persistence is not None else None
        # Shown always; unhealthy only when persistence is required (the override means the
        # operator accepted the risk).
        checks["redis_persistent"] = None if kept is None else kept.ok
        informational = set() if self.settings.redis.require_persistence else {"redis_persistent"}
        return all(v for k, v in checks.items() if k not in informational), checks

