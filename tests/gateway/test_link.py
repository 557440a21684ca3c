"""The driver of one SMPP session (gateway/smpp_link.py): one I/O thread owns the session
and the socket; other threads post commands. The SMSC here is the other end of a
socketpair, played by the test; time is a fake clock that stands still (no enquire_link)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.errors import BindRefused
from gateway.smpp_link import SmppLink
from smpp import codec
from smpp import constants as c
from smpp import session as sm

WAIT = 10.0  # how long a failing test waits for what never comes


class Recorder:
    """The gateway's side of the link: every event, and the thread it came on."""

    def __init__(self, answer_at_once: bool = False) -> None:
        self.delivers: list[sm.Deliver] = []
        self.errors: list[sm.ProtocolError] = []
        self.closed: list[str] = []
        self.threads: set[str] = set()
        self.answer_at_once = answer_at_once
        self.got = threading.Condition()

    def _note(self) -> None:
        self.threads.add(threading.current_thread().name)

    def on_deliver(self, link: SmppLink, event: sm.Deliver) -> None:
        self._note()
        if self.answer_at_once:  # as inbound does when full: answered from the I/O thread
            link.respond([(event.sm.sequence, 0x64)])
        with self.got:
            self.delivers.append(event)
            self.got.notify_all()

    def on_response(self, link: SmppLink, event: Any) -> None:
        self._note()

    def on_protocol_error(self, link: SmppLink, event: sm.ProtocolError) -> None:
        self._note()
        self.errors.append(event)

    def on_closed(self, link: SmppLink, reason: str) -> None:
        self._note()
        with self.got:
            self.closed.append(reason)
            self.got.notify_all()

    def wait(self, predicate: Any) -> bool:
        with self.got:
            return self.got.wait_for(predicate, WAIT)


class Smsc:
    """The test's end of the connection: reads whole PDUs, writes bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self.reader = codec.FrameReader(1 << 22)
        self.frames: list[bytes] = []

    def read(self, n: int = 1) -> list[bytes]:
        while len(self.frames) < n:
            data = self.sock.recv(1 << 16)
            assert data, "the gateway closed the connection"
            self.frames += self.reader.feed(data)
        got, self.frames = self.frames[:n], self.frames[n:]
        return got

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


def header(frame: bytes) -> tuple[int, int, int]:
    _length, command_id, status, seq = codec.HEADER.unpack_from(frame)
    return command_id, status, seq


def deliver(seq: int, text: bytes = b"VIETA") -> bytes:
    return codec.encode_deliver_sm(seq, "37129123456", 1, 1, "29307777", 0, 0, text)


def bind_resp(seq: int, status: int = 0) -> bytes:
    return codec.encode(codec.Pdu(c.BIND_TRANSCEIVER_RESP, status, seq,
                                  params={"system_id": "smsc"}))


_LINKS: list[SmppLink] = []


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    while _LINKS:  # the I/O thread ends before its socket goes
        link = _LINKS.pop()
        link.close("test over")
        link.wait_closed(WAIT)
    ours.close()
    theirs.close()


def make_link(ours: socket.socket, handler: Recorder) -> SmppLink:
    link = SmppLink("smsc.test", 2775, conn_id="c1", handler=handler, window=10,
                    response_timeout=30.0, enquire_link_interval=30.0,
                    clock=lambda: 1000.0, connect=lambda host, port, timeout: ours)
    _LINKS.append(link)
    return link


def bind(link: SmppLink, smsc: Smsc, then: bytes = b"") -> threading.Thread:
    """Open ``link`` from another thread (as the supervisor does); answer its bind, with
    ``then`` in the same write. Returns the opener, joined."""
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            link.open("transceiver", "consentgw", "secret", "", timeout=WAIT)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    t = threading.Thread(target=opener, name="supervisor")
    t.start()
    [frame] = smsc.read()
    assert header(frame)[0] == c.BIND_TRANSCEIVER
    smsc.send(bind_resp(header(frame)[2]) + then)
    t.join(WAIT)
    assert not errors, errors
    return t


def bound_link(pair: tuple[socket.socket, socket.socket],
               rec: Recorder | None = None) -> tuple[SmppLink, Smsc, Recorder]:
    """A link over ``pair`` bound by the fake SMSC, with the recorder its events go to."""
    ours, theirs = pair
    rec = rec if rec is not None else Recorder()
    link = make_link(ours, rec)
    smsc = Smsc(theirs)
    bind(link, smsc)
    return link, smsc, rec


def test_the_bind_and_what_comes_with_it_are_handled_on_the_io_thread(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """The SMSC sends texts right behind its bind_resp: the handler promises the I/O
    thread, and gets it (the supervisor that called open() never runs a handler)."""
    ours, theirs = pair
    rec = Recorder()
    link = make_link(ours, rec)
    bind(link, Smsc(theirs), then=deliver(1) + deliver(2))
    assert rec.wait(lambda: len(rec.delivers) == 2)
    assert link.bound
    assert rec.threads == {"smpp-io-c1"}


def test_a_refused_bind_raises_and_closes_the_link(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    rec = Recorder()
    link = make_link(ours, rec)
    smsc = Smsc(theirs)
    raised: list[BaseException] = []
    t = threading.Thread(target=lambda: _catch(raised, lambda: link.open(
        "transceiver", "consentgw", "wrong", "", timeout=WAIT)))
    t.start()
    [frame] = smsc.read()
    smsc.send(bind_resp(header(frame)[2], c.ESME_RINVPASWD))
    t.join(WAIT)
    assert [type(e) for e in raised] == [BindRefused]
    assert rec.wait(lambda: len(rec.closed) == 1) and not link.alive


def test_a_full_send_buffer_delays_the_bytes_and_never_ends_the_link(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """A megabyte of submits while the SMSC reads nothing: the socket's buffers fill, the
    rest waits in order, and the link stays up. (Before, the I/O thread gave the shared
    socket a timeout down to 1 ms and sendall under the lock on another thread inherited
    it: "write failed: timed out" ended the link.)"""
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    rec = Recorder()
    link = make_link(ours, rec)
    smsc = Smsc(theirs)
    bind(link, smsc)
    body = b"x" * 100_000

    def frame_for(seq: int) -> bytes:
        return struct.pack(">IIII", 16 + len(body), c.SUBMIT_SM, 0, seq) + body

    seqs = link.submit([(frame_for, n) for n in range(10)], timeout=30.0)
    assert len(seqs) == 10  # taken by the session; most of the bytes still wait
    assert link.bound and link.close_reason == ""
    frames = smsc.read(10)  # now the SMSC reads
    assert [header(f)[2] for f in frames] == seqs
    assert all(f[16:] == body for f in frames)
    assert link.bound and link.close_reason == ""


def test_answers_leave_in_the_order_posted_and_report_what_was_written(
        pair: tuple[socket.socket, socket.socket]) -> None:
    link, smsc, rec = bound_link(pair)
    smsc.send(b"".join(deliver(seq) for seq in range(1, 6)))
    assert rec.wait(lambda: len(rec.delivers) == 5)
    assert link.respond([(2, 0), (1, 0)]) == [(2, 0), (1, 0)]
    assert link.respond([(1, 0), (7, 0), (3, 0x64)]) == [(3, 0x64)]  # 1 answered, 7 never owed
    got = [header(f) for f in smsc.read(3)]
    assert got == [(c.DELIVER_SM_RESP, 0, 2), (c.DELIVER_SM_RESP, 0, 1),
                   (c.DELIVER_SM_RESP, 0x64, 3)]


def test_a_handler_may_answer_from_the_io_thread(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """inbound answers a text at once when too many wait (``gateway.max_pending_texts``):
    from inside on_deliver, on the I/O thread, which must not wait for itself."""
    _, smsc, _ = bound_link(pair, Recorder(answer_at_once=True))
    smsc.send(deliver(4) + deliver(5))
    assert [header(f) for f in smsc.read(2)] == [(c.DELIVER_SM_RESP, 0x64, 4),
                                                  (c.DELIVER_SM_RESP, 0x64, 5)]


def test_after_the_smsc_hangs_up_nothing_is_written_and_closing_is_reported_once(
        pair: tuple[socket.socket, socket.socket]) -> None:
    theirs = pair[1]
    link, smsc, rec = bound_link(pair)
    smsc.send(deliver(1))
    assert rec.wait(lambda: len(rec.delivers) == 1)
    theirs.shutdown(socket.SHUT_RDWR)
    assert rec.wait(lambda: len(rec.closed) == 1)
    assert link.respond([(1, 0)]) == []  # owed, but the connection is gone
    assert link.submit([(lambda seq: deliver(seq), None)], timeout=1.0) == []
    link.close("again")
    assert rec.closed == ["connection closed by peer"] and rec.threads == {"smpp-io-c1"}


def test_a_pdu_declaring_fewer_octets_than_its_body_recycles_the_link_at_once(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """The hostile SMSC: a deliver_sm 3 octets longer than its command_length says, then
    a valid text. The misframed one is answered, the link ends at once (the text after
    it comes again on the next bind), and no text is taken from the stream in doubt."""
    _, smsc, rec = bound_link(pair)
    whole = deliver(9, b"VIETA STOP")
    smsc.send(struct.pack(">I", len(whole) - 3) + whole[4:] + deliver(10, b"JAUNUMI"))
    assert rec.wait(lambda: len(rec.closed) == 1)
    assert "misframed" in rec.closed[0]
    assert [e.kind for e in rec.errors] == [sm.ErrorKind.MISFRAMED]
    assert rec.delivers == []
    assert [header(f) for f in smsc.read(1)] == [(c.GENERIC_NACK, c.ESME_RINVMSGLEN, 9)]


def test_close_from_another_thread_ends_the_link_and_reports_on_the_io_thread(
        pair: tuple[socket.socket, socket.socket]) -> None:
    theirs = pair[1]
    link, _, rec = bound_link(pair)
    link.close("shutdown")
    assert rec.wait(lambda: len(rec.closed) == 1) and rec.closed == ["shutdown"]
    assert not link.alive
    assert rec.threads == {"smpp-io-c1"}
    assert theirs.recv(16) == b""  # the SMSC sees the connection end


def _catch(into: list[BaseException], run: Any) -> None:
    try:
        run()
    except BaseException as exc:  # handed to the test
        into.append(exc)
