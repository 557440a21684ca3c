"""The gateway's driver of one SMPP session: the only place that touches the socket.

All SMPP protocol state — bind state, sequence numbers, outstanding requests and their
deadlines, the window, enquire_link, the dead-link verdict — lives in
``smpp.session.Session`` (sans-I/O). This module only moves bytes and time in and out of
it: one I/O thread per connection reads, feeds the session with ``now``, calls ``tick``
when a deadline comes, writes what the session wants written and hands the events to
the gateway. Other threads (the inbound batcher, the outbound sender) call ``respond`` /
``submit`` / ``unbind``; those run the session under one lock and write at once, so
bytes leave in the order the session produced them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import structlog

from gateway.errors import BindRefused, LinkError
from smpp import constants as c
from smpp import session as sm

log = structlog.get_logger("gateway.link")

_READ = 65536
_IDLE_WAKE = 1.0  # the I/O thread looks at the session at least this often


class LinkHandler(Protocol):
    """What the gateway does with the session's events (called on the I/O thread)."""

    def on_deliver(self, link: SmppLink, event: sm.Deliver) -> None: ...

    def on_response(self, link: SmppLink, event: sm.Response | sm.RequestFailed
                    | sm.TimedOut) -> None: ...

    def on_protocol_error(self, link: SmppLink, event: sm.ProtocolError) -> None: ...

    def on_closed(self, link: SmppLink, reason: str) -> None: ...


class SmppLink:
    """One TCP connection to the SMSC and the SMPP session over it."""

    def __init__(self, host: str, port: int, *, conn_id: str, handler: LinkHandler,
                 window: int, response_timeout: float, enquire_link_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host, self.port = host, port
        self.where = f"{host}:{port}"
        self.smsc = self.where  # the SMSC's identity for receipts; + system_id once bound
        self.conn_id = conn_id
        self._handler = handler
        self._clock = clock
        self.session = sm.Session(sm.Role.ESME, window=window,
                                  response_timeout=response_timeout,
                                  enquire_link_interval=enquire_link_interval, now=clock())
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # the session and the socket's write side
        self._io: threading.Thread | None = None
        self._closed = threading.Event()
        self._reported = False
        self.close_reason = ""

    # ---------------------------------------------------------------- state
    @property
    def bound(self) -> bool:
        return self.session.bound and not self._closed.is_set()

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self._io is not None and self._io.is_alive()

    @property
    def window_free(self) -> int:
        with self._lock:
            return self.session.window_free if self.session.bound else 0

    @property
    def pdus_in(self) -> int:
        return self.session.pdus_in

    # ---------------------------------------------------------------- lifecycle
    def connect(self, timeout: float) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise LinkError(f"cannot connect to SMSC {self.where}: {exc.strerror or exc}") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def bind(self, mode: str, system_id: str, password: str, system_type: str) -> None:
        """Bind before the I/O thread starts; raise BindRefused or LinkError. PDUs the SMSC
        sends meanwhile are answered by the session (enquire_link) or refused
        (ESME_RINVBNDSTS) and reported as protocol errors."""
        assert self._sock is not None
        self.smsc = f"{self.where}/{system_id}"
        with self._lock:
            self.session.bind(mode, system_id, password, self._clock(), system_type=system_type)
            self._flush_locked()
        while True:
            data = self._recv(self.session.next_deadline())
            with self._lock:
                now = self._clock()
                events = (self.session.receive_data(data, now) if data is not None else [])
                events += self.session.tick(now)
                self._flush_locked()
            bound = False
            for ev in events:
                if isinstance(ev, sm.Bound):
                    bound = True
                elif isinstance(ev, sm.BindRefused):
                    raise BindRefused(self.where, ev.status, c.status_name(ev.status))
                elif isinstance(ev, sm.LinkDead):
                    raise LinkError(f"SMSC {self.where}: {ev.reason} during bind")
                else:  # what came with or after the bind_resp (texts, often) is handled
                    self._dispatch(ev)
            if bound:
                return

    def start(self) -> None:
        self._io = threading.Thread(target=self._io_loop, name=f"smpp-io-{self.conn_id}",
                                    daemon=True)
        self._io.start()

    def close(self, reason: str) -> None:
        """Drop the connection; the I/O thread notices and reports once."""
        with self._lock:
            if not self.close_reason:
                self.close_reason = reason
            self.session.close(reason)
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._io is None or not self._io.is_alive() or self._io is threading.current_thread():
            self._finish()

    def wait_closed(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    # ---------------------------------------------------------------- writing
    def respond(self, answers: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Answer deliver_sm: (sequence, status) pairs. Returns the pairs written; a
        sequence not owed on this session (it came on an earlier connection, or was
        answered already) is never written, and nothing is when the write fails."""
        written: list[tuple[int, int]] = []
        with self._lock:
            for seq, status in answers:
                if self.session.respond(seq, status):
                    written.append((seq, status))
            ok = self._flush_locked()
        return written if ok else []

    def submit(self, frames: Iterable[tuple[Callable[[int], bytes], Any]],
               timeout: float) -> list[int]:
        """Send submit_sm built by each ``frame_for(sequence)``, with its ``context``;
        as many as the window takes. Returns the sequence numbers used."""
        seqs: list[int] = []
        with self._lock:
            if not self.session.bound:
                return seqs
            now = self._clock()
            for frame_for, context in frames:
                if self.session.window_free <= 0:
                    break
                seqs.append(self.session.send_request(c.SUBMIT_SM, frame_for, now,
                                                      context=context, timeout=timeout))
            self._flush_locked()
        return seqs

    def unbind(self) -> bool:
        with self._lock:
            if not self.session.bound:
                return False
            self.session.unbind(self._clock())
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        data = self.session.data_to_send()
        if not data:
            return True
        sock = self._sock
        try:
            if sock is None:
                raise OSError("not connected")
            sock.sendall(data)
            return True
        except OSError as exc:
            if not self.close_reason:
                self.close_reason = f"write failed: {exc.strerror or exc}"
            self.session.close(self.close_reason)
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return False

    # ---------------------------------------------------------------- the I/O thread
    def _recv(self, deadline: float | None) -> bytes | None:
        """Bytes read (b"" when the peer closed), or None when the deadline came first."""
        assert self._sock is not None
        wait = _IDLE_WAKE if deadline is None else deadline - self._clock()
        self._sock.settimeout(min(_IDLE_WAKE, max(0.001, wait)))
        try:
            return self._sock.recv(_READ)
        except TimeoutError:
            return None

    def _io_loop(self) -> None:
        try:
            while not self.session.closed:
                with self._lock:  # other threads add requests meanwhile
                    deadline = self.session.next_deadline()
                try:
                    data = self._recv(deadline)
                except OSError as exc:
                    data = b""
                    if not self.close_reason:
                        self.close_reason = f"read failed: {exc.strerror or exc}"
                with self._lock:
                    now = self._clock()
                    events = (self.session.receive_data(data, now) if data is not None else [])
                    events += self.session.tick(now)
                    self._flush_locked()
                for ev in events:
                    self._dispatch(ev)
        except Exception as exc:  # a bug must not leave a half-dead link behind
            log.exception("smpp.io_crashed", error=repr(exc))
            self._handler.on_protocol_error(self, sm.ProtocolError(sm.ErrorKind.DRIVER_CRASHED, repr(exc)))
            self.close_reason = self.close_reason or f"I/O thread crashed: {exc!r}"
        finally:
            self.close(self.close_reason or self.session.close_reason or "closed")
            self._finish()

    def _dispatch(self, ev: sm.Event) -> None:
        if isinstance(ev, sm.Deliver):
            self._handler.on_deliver(self, ev)
        elif isinstance(ev, sm.Response | sm.RequestFailed | sm.TimedOut):
            self._handler.on_response(self, ev)
        elif isinstance(ev, sm.ProtocolError):
            self._handler.on_protocol_error(self, ev)
        elif isinstance(ev, sm.Request):
            if ev.pdu.command_id in c.NO_RESPONSE:
                log.info("smpp.notification", command=ev.pdu.name, tlvs=sorted(ev.pdu.tlvs))
            else:  # data_sm: not taken by this gateway (SPEC: texts come as deliver_sm)
                with self._lock:
                    self.session.respond(ev.pdu.sequence, c.ESME_RINVCMDID)
                    self._flush_locked()
                self._handler.on_protocol_error(self, sm.ProtocolError(
                    sm.ErrorKind.UNSUPPORTED, ev.pdu.name, ev.pdu.command_id, ev.pdu.sequence))
        elif isinstance(ev, sm.Unbound):
            self.close_reason = self.close_reason or (
                "unbind from SMSC" if ev.by_peer else "unbound")
        elif isinstance(ev, sm.LinkDead):
            self.close_reason = self.close_reason or ev.reason

    def _finish(self) -> None:
        if self._reported:
            return
        self._reported = True
        self._closed.set()
        self._handler.on_closed(self, self.close_reason or "closed")
