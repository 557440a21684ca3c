"""Webhook delivery against a real HTTP receiver on loopback that fails, hangs, goes away
and comes back: every change arrives, in feed order, at least once, and the receiver
verifies each signature (Standard Webhooks) with the subscription's secret.

The deliverer runs round by round (``run_once``) on the test's clock, so backoff and
parking after 24 h are exercised without waiting for them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from config.settings import WebhookSettings
from consent_core.catalog import Catalog, load_catalog
from consent_core.clock import FixedClock
from consent_store import api_reads
from consent_store import webhooks as subs
from consent_store.engine import upgrade
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from consent_webhooks.deliver import Deliverer, FeedWaker

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example
NUMBERS = [f"371291000{i:02d}" for i in range(6)]


class Receiver:
    """A webhook endpoint: ``mode`` is ok (verify, record, 204), fail (500), hang (answer
    nothing until the test ends) or down (port closed)."""

    def __init__(self, clock: FixedClock, secret: str) -> None:
        self.clock = clock
        self.signer = Webhook(secret)
        self.mode = "ok"
        self.accepted: list[dict[str, Any]] = []  # verified events, in arrival order
        self.tries = 0
        self.bad_signatures = 0
        self.release = threading.Event()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.up()

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        # The library's signature over "id.timestamp.body"; freshness against the test's
        # clock (the library's own check reads the wall clock, which this test does not).
        msg_id, ts = headers["webhook-id"], int(headers["webhook-timestamp"])
        expected = self.signer.sign(msg_id, datetime.fromtimestamp(ts, UTC), body)
        fresh = abs(ts - self.clock().timestamp()) <= 300
        return fresh and expected in headers["webhook-signature"].split(" ")

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.tries += 1
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                if receiver.mode == "fail":
                    self.send_response(500)
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not receiver.verify(headers, body):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.accepted.append({"id": headers["webhook-id"], **json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.mode = "ok"

    def down(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/consents"

    def close(self) -> None:
        self.release.set()
        if self._server is not None:
            self.down()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def store(database_url: str, clock: FixedClock) -> Iterator[ConsentStore]:
    upgrade(database_url)
    s = ConsentStore(database_url, clock=clock)
    s.import_subscribers([SubscriberRow(n, "lmt") for n in NUMBERS])
    yield s
    s.close()


@pytest.fixture
def receiver(clock: FixedClock) -> Iterator[Receiver]:
    r = Receiver(clock, SECRET)
    yield r
    r.close()


_seq = iter(range(1, 10_000))


def change(store: ConsentStore, catalog: Catalog, clock: FixedClock, msisdn: str,
           action: str, consent: str) -> None:
    n = next(_seq)
    store.apply(ChangeRequest(event_id=f"wh-{n}", msisdn=msisdn, action=action, consent=consent,
                              channel="web", received_at=clock(), ingest_seq=None,
                              text=None), catalog=catalog)


def feed(store: ConsentStore) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return api_reads.changes_after(conn, 0, 10_000).changes


def leased(store: ConsentStore) -> list[str | None]:
    from consent_store.webhooks_schema import webhooks

    with store.engine.connect() as conn:
        return [r.lease_owner for r in conn.execute(webhooks.select())]


def settings(**kw: Any) -> WebhookSettings:
    return WebhookSettings(timeout=0.5, retry_first=5.0, retry_max=3600.0,
                           park_after=86400.0, **kw)


def first_arrivals(receiver: Receiver) -> list[str]:
    seen: list[str] = []
    for event in receiver.accepted:
        if event["id"] not in seen:
            seen.append(event["id"])
    return seen


def test_every_change_arrives_in_order_through_failures_timeouts_an_outage_and_parking(
        store: ConsentStore, catalog: Catalog, clock: FixedClock, receiver: Receiver) -> None:
    sub = subs.add(store.engine, receiver.url, SECRET, None, clock(), start=0)
    deliverer = Deliverer(store.engine, settings(), clock=clock)
    try:
        # Healthy: everything so far goes out in one round.
        for n in NUMBERS[:3]:
            change(store, catalog, clock, n, "give", "VIETA")
        deliverer.run_once()
        assert len(receiver.accepted) == 3

        # 500s: the round stops at the first refused event; no retry before the backoff.
        receiver.mode = "fail"
        change(store, catalog, clock, NUMBERS[0], "withdraw", "VIETA")
        change(store, catalog, clock, NUMBERS[1], "give", "AUTO")
        deliverer.run_once()
        row = subs.get(store.engine, sub.id)
        assert (row.state, row.attempts, row.last_error) == ("active", 1, "HTTP 500")
        assert row.next_attempt_at is not None
        assert timedelta(seconds=4) <= row.next_attempt_at - clock() <= timedelta(seconds=6)
        tries = receiver.tries
        deliverer.run_once()
        assert receiver.tries == tries, "retried before its backoff was up"
        clock.advance(timedelta(seconds=6))
        deliverer.run_once()
        assert receiver.tries == tries + 1
        row = subs.get(store.engine, sub.id)
        assert row.attempts == 2
        assert row.next_attempt_at is not None
        assert timedelta(seconds=8) <= row.next_attempt_at - clock() <= timedelta(seconds=12)

        # A receiver that accepts the connection and never answers: a timeout is a failure.
        receiver.mode = "hang"
        clock.advance(timedelta(seconds=12))
        deliverer.run_once()
        row = subs.get(store.engine, sub.id)
        assert (row.attempts, row.last_error) == (3, "no answer within 0.5 s")

        # Gone altogether: tries go on, ever further apart, and after 24 h of failing the
        # subscription is parked; nothing is tried while it is parked.
        receiver.down()
        change(store, catalog, clock, NUMBERS[2], "withdraw", "VIETA")
        failing_since = row.failing_since
        assert failing_since is not None
        while subs.get(store.engine, sub.id).state == "active":
            clock.advance(timedelta(hours=1, minutes=15))
            deliverer.run_once()
            assert clock() - failing_since < timedelta(hours=27), "never parked"
        row = subs.get(store.engine, sub.id)
        assert row.state == "parked"
        assert clock() - failing_since >= timedelta(hours=24)
        assert "ConnectError" in (row.last_error or "")

        # It comes back; an operator replays; everything owed arrives, in order.
        receiver.up()
        change(store, catalog, clock, NUMBERS[3], "give", "JAUNUMI")
        assert deliverer.run_once() == [], "a parked subscription was tried"
        subs.replay(store.engine, sub.id)
        deliverer.run_once()
    finally:
        deliverer.close()

    expected = [c["event_id"] for c in feed(store)]
    assert len(expected) == 7
    assert first_arrivals(receiver) == expected
    assert receiver.bad_signatures == 0
    last = receiver.accepted[-1]
    assert last["type"] == "consent.given"
    assert last["data"]["position"] == subs.get(store.engine, sub.id).position
    assert [e["data"]["position"] for e in receiver.accepted] == sorted(
        e["data"]["position"] for e in receiver.accepted)
    row = subs.get(store.engine, sub.id)
    assert (row.state, row.attempts, row.failing_since) == ("active", 0, None)
    assert leased(store) == [None]


def test_a_subscription_to_some_consents_is_sent_only_theirs_and_can_be_replayed_from_a_position(
        store: ConsentStore, catalog: Catalog, clock: FixedClock, receiver: Receiver) -> None:
    sub = subs.add(store.engine, receiver.url, SECRET, ["vieta"], clock(), start=0)
    change(store, catalog, clock, NUMBERS[0], "give", "VIETA")
    change(store, catalog, clock, NUMBERS[0], "give", "AUTO")
    change(store, catalog, clock, NUMBERS[0], "give", "VIETA")  # already given: not a change
    change(store, catalog, clock, NUMBERS[0], "withdraw", "VIETA")
    deliverer = Deliverer(store.engine, settings(), clock=clock)
    try:
        deliverer.run_once()
        assert [(e["data"]["consent"], e["data"]["status"]) for e in receiver.accepted] == [
            ("VIETA", "given"), ("VIETA", "withdrawn")]
        # Caught up past the rows it is not sent, too, and the lease is given up.
        assert subs.get(store.engine, sub.id).position == max(c["position"] for c in feed(store))
        assert leased(store) == [None]
        subs.replay(store.engine, sub.id, receiver.accepted[0]["data"]["position"])
        deliverer.run_once()
    finally:
        deliverer.close()
    assert [e["id"] for e in receiver.accepted[2:]] == [receiver.accepted[1]["id"]]


def test_a_subscription_added_without_a_position_starts_with_the_next_change(
        store: ConsentStore, catalog: Catalog, clock: FixedClock, receiver: Receiver) -> None:
    change(store, catalog, clock, NUMBERS[0], "give", "VIETA")
    subs.add(store.engine, receiver.url, SECRET, None, clock())
    change(store, catalog, clock, NUMBERS[0], "withdraw", "VIETA")
    deliverer = Deliverer(store.engine, settings(), clock=clock)
    try:
        deliverer.run_once()
    finally:
        deliverer.close()
    assert [e["type"] for e in receiver.accepted] == ["consent.withdrawn"]


@pytest.mark.parametrize("secret", ["hunter2", "whsec_not*base64", "whsec_c2hvcnQ="])
def test_a_secret_that_is_not_a_standard_webhooks_secret_is_refused(secret: str) -> None:
    from consent_store.errors import BadRequest

    with pytest.raises(BadRequest, match="secret"):
        subs.check_secret(secret)
    assert subs.check_secret(SECRET) == SECRET


def test_metrics_show_a_parked_subscription_until_it_is_removed(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    from consent_webhooks import metrics

    sub = subs.add(store.engine, "http://127.0.0.1:9/nobody", SECRET, None, clock())
    change(store, catalog, clock, NUMBERS[0], "give", "VIETA")
    deliverer = Deliverer(store.engine, settings(), clock=clock)
    label = {"webhook": str(sub.id)}
    try:
        while subs.get(store.engine, sub.id).state == "active":
            clock.advance(timedelta(hours=2))
            deliverer.run_once()
        deliverer.refresh_gauges()
        assert metrics.REGISTRY.get_sample_value("consent_webhooks_parked", label) == 1
        lag = metrics.REGISTRY.get_sample_value("consent_webhooks_lag_seconds", label)
        assert lag is not None and lag >= 24 * 3600
        failed = metrics.REGISTRY.get_sample_value("consent_webhooks_deliveries_total",
                                                   {**label, "result": "failed"})
        assert failed is not None and failed >= 12
        subs.remove(store.engine, sub.id, clock())
        deliverer.refresh_gauges()
        assert metrics.REGISTRY.get_sample_value("consent_webhooks_parked", label) is None
    finally:
        deliverer.close()


def test_on_postgresql_a_committed_change_wakes_the_deliverer(
        postgres_url: str, catalog: Catalog, clock: FixedClock) -> None:
    upgrade(postgres_url)
    store = ConsentStore(postgres_url, clock=clock)
    store.import_subscribers([SubscriberRow(NUMBERS[0], "lmt")])
    waker = FeedWaker(store.engine)
    try:
        assert waker.wait(0.01) is False  # listening now; nothing committed yet
        change(store, catalog, clock, NUMBERS[0], "give", "VIETA")
        assert waker.wait(30) is True  # woken by the commit, long before the 30 s bound
    finally:
        waker.close()
        store.close()
