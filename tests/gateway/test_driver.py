"""The gateway's logic over session events, without sockets: a fake link stands where the
SMPP connection would be (it records what would be written), fakeredis under the queue."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import fakeredis
import redis

from config.logs import configure_logging
from config.settings import LogSettings, Settings
from consent_core.changes import SubmitResult
from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import Keys
from consent_queue.parts import PartStore
from consent_queue.replies import Reply, ReplyQueue
from gateway.inbound import Arrival, Inbound, _Batch
from gateway.metrics import GatewayMetrics
from gateway.outbound import Outbound
from smpp import codec
from smpp import constants as c
from smpp import session as sm
from tests.support.lost_answer import lose_next_transaction_answer


class FakeLink:
    def __init__(self, conn_id: str = "c1") -> None:
        self.conn_id = conn_id
        self.smsc = "127.0.0.1:2775/consentgw"
        self.written: list[tuple[int, int]] = []
        self.submitted: list[bytes] = []
        self.closed = ""
        self.window_free = 10
        self.bound = True

    def respond(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        self.written += pairs
        return list(pairs)

    def submit(self, frames: list[tuple[Any, Any]], timeout: float) -> list[int]:
        self.submitted += [frame_for(100 + i) for i, (frame_for, _ctx) in enumerate(frames)]
        return [100 + i for i in range(len(frames))]

    def close(self, reason: str) -> None:
        self.closed = reason


def settings(**sections: dict[str, Any]) -> Settings:
    return Settings(**{name: values for name, values in sections.items()})  # type: ignore[arg-type]


def inbound(s: Settings, client: Any = None) -> tuple[Inbound, Any]:
    """The inbound batcher over fakeredis, or over ``client`` (a real Redis, for what runs
    Lua: the parts of long texts)."""
    r = client if client is not None else fakeredis.FakeRedis()
    keys = Keys("t", "q", 1)
    events = EventQueue(r, keys, JobOptions(retry_max=0))
    parts = PartStore(r, keys, timeout=s.gateway.concat_timeout, instance="gw")
    return Inbound(s, events, parts, GatewayMetrics(), "gw"), r


def deliver(seq: int, octets: bytes, *, esm: int = 0, dest: str = "29307777",
            source: str = "37129123456") -> sm.Deliver:
    smsg = codec.decode_sm(codec.encode_deliver_sm(seq, source, 1, 1, dest, esm, 0, octets))
    return sm.Deliver(smsg, sm.classify(esm))


def test_arrivals_beyond_max_pending_texts_get_the_temporary_error_at_once() -> None:
    ib, _r = inbound(settings(gateway={"max_pending_texts": 10}))
    link = FakeLink()
    for seq in range(1, 13):
        ib.offer(link, deliver(seq, b"VIETA"))  # type: ignore[arg-type]
    assert link.written == [(11, 0x64), (12, 0x64)]


def test_parts_with_one_reference_and_other_totals_are_held_apart_and_each_answered(
        redis_url: str) -> None:
    configure_logging(LogSettings(format="json"), service="test", stream=io.StringIO())
    ib, _r = inbound(settings(), redis.Redis.from_url(redis_url))
    link = FakeLink()
    b = _Batch(link)  # type: ignore[arg-type]

    def part(seq: int, total: int, n: int, text: bytes) -> Arrival:
        ev = deliver(seq, bytes([5, 0, 3, 7, total, n]) + text, esm=c.ESM_UDHI)
        return Arrival(link, ev.sm, ev.kind, 0.0)  # type: ignore[arg-type]

    for a in (part(1, 2, 1, b"VIETA "), part(2, 3, 1, b"JAU"), part(3, 3, 2, b"NU"),
              part(4, 3, 3, b"MI")):
        ib._classify(a, b)
    assert not b.texts and len(b.parts) == 4  # nothing is joined before Redis holds it
    ib._queue(b)
    [text] = b.texts
    assert text.request.text == "JAUNUMI"
    assert link.written == [(1, 0), (2, 0), (3, 0), (4, 0)]  # every part answered once held
    assert text.held is not None and text.held.how == "completed"
    # The other set (reference 7, two parts) still waits in Redis for its second part.
    assert _r.zcard("t:parts:due") == 1


def test_text_to_another_number_is_settled_with_the_configured_status() -> None:
    ib, _r = inbound(settings(smpp={"wrong_destination_status": 0x0B,
                                    "accepted_destinations": ["37129307777"]}))
    link = FakeLink()
    b = _Batch(link)  # type: ignore[arg-type]
    for seq, dest in ((1, "29300000"), (2, "37129307777"), (3, "")):
        ev = deliver(seq, b"VIETA", dest=dest)
        ib._classify(Arrival(link, ev.sm, ev.kind, 0.0), b)  # type: ignore[arg-type]
    assert [(arrivals[0].pdu.sequence, st) for arrivals, st in b.settled] == [(1, 0x0B), (3, 0x0B)]
    assert [t.request.text for t in b.texts] == ["VIETA"]  # the alias is ours


def outbound(s: Settings) -> tuple[Outbound, Any]:
    r = fakeredis.FakeRedis()
    events = EventQueue(r, Keys("t", "q", 1), JobOptions(retry_max=0))
    ob = Outbound(s, ReplyQueue(r, Keys("t", "q", 1)), r, events, GatewayMetrics(), "gw")
    return ob, r


def admitted(ob: Outbound, link: FakeLink) -> int:
    reply = Reply("e1", "37129123456", "Paldies", "c1", datetime(2026, 1, 1, tzinfo=UTC))
    ob.attach(link)  # type: ignore[arg-type]
    ob._admit(reply.dumps())
    out, idx = ob._ready.popleft()
    token = 99
    ob._inflight[token] = (out, idx)
    return token


def outstanding(token: int) -> sm.Outstanding:
    return sm.Outstanding(c.SUBMIT_SM, 5, 0.0, 10.0, token)


def test_submit_timeout_puts_the_part_back_and_recycles_the_link() -> None:
    ob, _r = outbound(settings(smpp={"submit_timeout_action": "rebind"}))
    link = FakeLink()
    token = admitted(ob, link)
    ob.on_response(link, sm.TimedOut(outstanding(token)))  # type: ignore[arg-type]
    assert len(ob._ready) == 1 and not ob._inflight
    assert link.closed.startswith("no submit_sm_resp")


def test_submit_timeout_in_resubmit_mode_keeps_the_link() -> None:
    ob, _r = outbound(settings(smpp={"submit_timeout_action": "resubmit"}))
    link = FakeLink()
    token = admitted(ob, link)
    ob.on_response(link, sm.TimedOut(outstanding(token)))  # type: ignore[arg-type]
    assert len(link.submitted) == 1 and len(ob._inflight) == 1 and link.closed == ""


def test_generic_nack_is_never_acceptance_and_replies_due_become_a_stall() -> None:
    ob, _r = outbound(settings(gateway={"reply_stall_timeout": 5.0}))
    link = FakeLink()
    token = admitted(ob, link)
    ob.on_response(link, sm.RequestFailed(outstanding(token), c.ESME_RSYSERR))  # type: ignore[arg-type]
    assert ob.sent == 0 and len(ob._ready) == 1  # tried again later, not done
    assert ob._due_since is not None
    assert not ob.stalled(ob._due_since + 4.9)
    assert ob.stalled(ob._due_since + 5.0)
    out, idx = ob._ready.popleft()
    ob._inflight[7] = (out, idx)
    ob.on_response(link, sm.Response(outstanding(7), c.ESME_ROK, "m-1"))  # type: ignore[arg-type]
    assert ob.sent == 1 and not ob.stalled(ob._due_since + 100)
    with ob._events.deliveries.sending() as waiting:
        [update] = waiting
    assert isinstance(update, SubmitResult)
    assert (update.message_id, update.smsc) == ("m-1", "127.0.0.1:2775/consentgw")


def test_a_batch_whose_enqueue_answer_was_lost_is_recognised_on_a_later_bind() -> None:
    """Redis ran the enqueue's transaction but its answer was lost: the text got the
    temporary error. The number's next text is queued on the same bind; the bind dies; the
    SMSC redelivers the first text on a new one. That copy of a give is the redelivery
    (acknowledged, not queued again), although the number sent something in between; a
    withdrawal would be applied again, marked (tests/gateway/test_redelivery.py)."""
    configure_logging(LogSettings(format="json"), service="test", stream=io.StringIO())
    ib, r = inbound(settings())
    lose_next_transaction_answer(r, redis.ConnectionError("answer lost (test)"))

    def send(link: FakeLink, seq: int, words: bytes) -> None:
        b = _Batch(link)  # type: ignore[arg-type]
        ev = deliver(seq, words)
        ib._classify(Arrival(link, ev.sm, ev.kind, 0.0), b)  # type: ignore[arg-type]
        ib._queue(b)

    first, later = FakeLink("c1"), FakeLink("c2")
    send(first, 1, b"VIETA")
    send(first, 2, b"JAUNUMI")
    assert first.written == [(1, 0x64), (2, 0)]
    send(later, 7, b"VIETA")
    assert later.written == [(7, 0)]
    assert r.llen("rq:queue:q-0") == 2  # VIETA (the first copy) and JAUNUMI


class _ChangedUnderLock(list[str]):
    """The sender's list of finished replies, refusing a change made without its lock
    (the sender swaps the list under the lock: an append outside it can be lost)."""

    def __init__(self, cond: Any) -> None:
        super().__init__()
        self.cond = cond

    def append(self, item: str) -> None:
        assert self.cond._is_owned(), "changed without the sender's lock"
        super().append(item)


def test_replies_that_are_never_sent_leave_the_in_flight_list_under_the_senders_lock() -> None:
    """The taker thread drops unreadable replies and replies to ourselves; the sender swaps
    the list they go to under its lock. Appended without it, one can be lost in the swap
    and wait in the in-flight list until the next start."""
    ob, _r = outbound(settings())
    ob._finished = _ChangedUnderLock(ob._cond)
    ob._admit("not a reply")
    ob._admit(Reply("e2", "29307777", "Paldies", "c2", datetime(2026, 1, 1, tzinfo=UTC)).dumps())
    assert len(ob._finished) == 2 and not ob._ready
