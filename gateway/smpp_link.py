"""The gateway's driver of one SMPP session: one I/O thread owns the session and its socket.

All SMPP protocol state — bind state, sequence numbers, outstanding requests and their
deadlines, the window, enquire_link, the dead-link verdict — lives in
``smpp.session.Session`` (sans-I/O). This module moves bytes and time in and out of it,
and nothing else touches either: the I/O thread connects, binds, reads, feeds the session
with ``now``, calls ``tick`` when a deadline comes, writes what the session wants written
and hands the events to the gateway — all of them, the bind's included, on that thread.

Other threads (the inbound batcher, the outbound sender, the supervisor) never call the
session: they post commands ("answer these deliver_sm", "submit these frames", "unbind",
"close") to the thread, which a socketpair wakes, and wait for the command's result. The
socket is non-blocking and never gets a timeout: the thread waits in ``select`` for the
SMSC's bytes, a command, room in the send buffer or the session's next deadline, so a
full send buffer only delays the bytes (in order), never ends the link.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import structlog

from gateway.errors import BindRefused, LinkError
from smpp import constants as c
from smpp import session as sm

log = structlog.get_logger("gateway.link")

_READ = 65536
_IDLE_WAKE = 1.0  # the I/O thread looks at the session at least this often
# A command's caller waits at most this long for the I/O thread (which never blocks on
# anything but select with a deadline; this only bounds a bug).
_COMMAND_WAIT = 30.0

T = TypeVar("T")


class LinkHandler(Protocol):
    """What the gateway does with the session's events (called on the link's I/O thread)."""

    def on_deliver(self, link: SmppLink, event: sm.Deliver) -> None: ...

    def on_response(self, link: SmppLink, event: sm.Response | sm.RequestFailed
                    | sm.TimedOut) -> None: ...

    def on_protocol_error(self, link: SmppLink, event: sm.ProtocolError) -> None: ...

    def on_closed(self, link: SmppLink, reason: str) -> None: ...


class _Command:
    """Work for the I/O thread, and its result for the thread that posted it."""

    __slots__ = ("done", "fallback", "result", "run", "until")

    def __init__(self, run: Callable[[], Any], fallback: Any) -> None:
        self.run = run
        self.fallback = fallback  # the result when the link closes first
        self.result: Any = fallback
        self.until = 0  # complete once this many bytes are written (0: once run)
        self.done = threading.Event()


class SmppLink:
    """One TCP connection to the SMSC and the SMPP session over it."""

    def __init__(self, host: str, port: int, *, conn_id: str, handler: LinkHandler,
                 window: int, response_timeout: float, enquire_link_interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 connect: Callable[[str, int, float], socket.socket] | None = None) -> None:
        self.host, self.port = host, port
        self.where = f"{host}:{port}"
        self.smsc = self.where  # the SMSC's identity for receipts; + system_id once bound
        self.conn_id = conn_id
        self._handler = handler
        self._clock = clock
        self._connect = connect or _tcp_connect
        self.session = sm.Session(sm.Role.ESME, window=window,
                                  response_timeout=response_timeout,
                                  enquire_link_interval=enquire_link_interval, now=clock())
        self._sock: socket.socket | None = None
        self._out = bytearray()  # the session's bytes not yet taken by the socket
        self._written = 0  # bytes written since the start, for commands waiting on them
        self._waiting: deque[_Command] = deque()  # commands done once their bytes are out
        self._commands: deque[_Command] = deque()  # posted by other threads
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._woken = False
        self._io: threading.Thread | None = None
        self._opened = threading.Event()  # the bind's outcome is known
        self._open_error: Exception | None = None
        self._closed = threading.Event()
        self.close_reason = ""
        # Read by other threads; written only by the I/O thread (a snapshot, not the state).
        self._bound = False
        self._window_free = 0
        self._pdus_in = 0

    # ---------------------------------------------------------------- state (any thread)
    @property
    def bound(self) -> bool:
        return self._bound and not self._closed.is_set()

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self._io is not None and self._io.is_alive()

    @property
    def window_free(self) -> int:
        """Free window slots when the I/O thread last looked (``submit`` takes only as many
        as are free when it runs)."""
        return self._window_free if self.bound else 0

    @property
    def pdus_in(self) -> int:
        return self._pdus_in

    # ---------------------------------------------------------------- lifecycle
    def open(self, mode: str, system_id: str, password: str, system_type: str,
             timeout: float) -> None:
        """Start the I/O thread, which connects and binds; return once bound. Raises
        ``BindRefused`` or ``LinkError`` (the link is then closed)."""
        self.smsc = f"{self.where}/{system_id}"
        self._io = threading.Thread(
            target=self._run, args=(mode, system_id, password, system_type, timeout),
            name=f"smpp-io-{self.conn_id}", daemon=True)
        self._io.start()
        # The session's response_timeout bounds the bind; connect has ``timeout``.
        if not self._opened.wait(timeout + self.session.timers.response_timeout + 5.0):
            self.close("bind did not finish")
            raise LinkError(f"SMSC {self.where}: bind did not finish")
        if self._open_error is not None:
            raise self._open_error
        if not self._bound:
            raise LinkError(f"SMSC {self.where}: {self.close_reason or 'closed'} during bind")

    def close(self, reason: str) -> None:
        """Drop the connection; the I/O thread reports it once (``on_closed``)."""
        if self._io is None:
            self._close_now(reason)
            self._finish()
            return
        self._call(lambda: self._close_now(reason), None)

    def wait_closed(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    # ---------------------------------------------------------------- commands (any thread)
    def respond(self, answers: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Answer deliver_sm: (sequence, status) pairs. Returns the pairs written to the
        socket; a sequence not owed on this session (it came on an earlier connection, or
        was answered already) is never written, and none is when the link dies first."""
        pairs = list(answers)

        def run() -> list[tuple[int, int]]:
            return [(seq, st) for seq, st in pairs if self.session.respond(seq, st)]
        result: list[tuple[int, int]] = self._call(run, [], written=True)
        return result

    def submit(self, frames: Iterable[tuple[Callable[[int], bytes], Any]],
               timeout: float) -> list[int]:
        """Send submit_sm built by each ``frame_for(sequence)``, with its ``context``;
        as many as the window takes. Returns the sequence numbers used."""
        items = list(frames)

        def run() -> list[int]:
            seqs: list[int] = []
            if not self.session.bound:
                return seqs
            now = self._clock()
            for frame_for, context in items:
                if self.session.window_free <= 0:
                    break
                seqs.append(self.session.send_request(c.SUBMIT_SM, frame_for, now,
                                                      context=context, timeout=timeout))
            return seqs
        result: list[int] = self._call(run, [])
        return result

    def unbind(self) -> bool:
        def run() -> bool:
            if not self.session.bound:
                return False
            self.session.unbind(self._clock())
            return True
        result: bool = self._call(run, False, written=True)
        return result

    def _call(self, run: Callable[[], T], fallback: T, *, written: bool = False) -> T:
        """Run ``run`` on the I/O thread and return its result (``fallback`` when the link
        is closed first). ``written``: only once the bytes it made are on the socket."""
        if threading.current_thread() is self._io:
            # A handler acting from the thread (an answer, the next submits): at once; the
            # loop writes what it made after the round's events, in one go.
            return run()
        if self._closed.is_set() or self._io is None:
            return fallback  # closed, or never opened: nothing to run it
        cmd = _Command(run, fallback)
        if written:
            cmd.until = -1  # set when it runs
        self._commands.append(cmd)
        if not self._woken:
            self._woken = True
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass  # the buffer is full of wakes already, or the link is gone
        if self._closed.is_set():  # closed meanwhile: the thread may not look again
            self._fail_commands()
        cmd.done.wait(_COMMAND_WAIT)
        result: T = cmd.result
        return result

    # ---------------------------------------------------------------- the I/O thread
    def _run(self, mode: str, system_id: str, password: str, system_type: str,
             timeout: float) -> None:
        try:
            try:
                self._sock = self._connect(self.host, self.port, timeout)
            except OSError as exc:
                raise LinkError(f"cannot connect to SMSC {self.where}: "
                                f"{exc.strerror or exc}") from None
            self._sock.setblocking(False)
            self.session.bind(mode, system_id, password, self._clock(),
                              system_type=system_type)
            self._loop()
        except (BindRefused, LinkError) as exc:
            self._open_error = exc
            self.close_reason = self.close_reason or str(exc)
        except Exception as exc:  # a bug must not leave a half-dead link behind
            log.exception("smpp.io_crashed", error=repr(exc))
            self._open_error = LinkError(f"SMSC {self.where}: I/O thread crashed: {exc!r}")
            if self._opened.is_set():
                self._handler.on_protocol_error(self, sm.ProtocolError(
                    sm.ErrorKind.DRIVER_CRASHED, repr(exc)))
            self.close_reason = self.close_reason or f"I/O thread crashed: {exc!r}"
        finally:
            self._close_now(self.close_reason or self.session.close_reason or "closed")
            self._opened.set()
            self._finish()

    def _loop(self) -> None:
        sock = self._sock
        assert sock is not None
        readers = [sock, self._wake_r]
        while not self.session.closed:
            self._pump()
            if self.session.closed:
                break
            deadline = self.session.next_deadline()
            wait = _IDLE_WAKE if deadline is None else min(_IDLE_WAKE, deadline - self._clock())
            readable, _, _ = select.select(readers, [sock] if self._out else [], [],
                                           max(0.0, wait))
            data: bytes | None = None
            if sock in readable:
                try:
                    data = sock.recv(_READ)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError as exc:
                    data = b""
                    self.close_reason = self.close_reason or \
                        f"read failed: {exc.strerror or exc}"
            now = self._clock()
            events = self.session.receive_data(data, now) if data is not None else []
            events += self.session.tick(now)
            self._pump()
            for ev in events:
                self._dispatch(ev)
            if events:
                self._pump()

    def _pump(self) -> None:
        """Run the posted commands, then write what the session has to send (as much as
        the socket takes now) and complete the commands whose bytes are out."""
        if self._woken or self._commands:
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
            self._woken = False  # before taking commands: a later post wakes us again
            while self._commands:
                cmd = self._commands.popleft()
                cmd.result = cmd.run()
                if cmd.until == -1:
                    self._out += self.session.data_to_send()
                    cmd.until = self._written + len(self._out)
                    self._waiting.append(cmd)
                else:
                    cmd.done.set()
        self._out += self.session.data_to_send()
        if self._out and self._sock is not None:
            self._write()  # after the session closed too: its last answer (unbind_resp)
        while self._waiting and self._waiting[0].until <= self._written:
            self._waiting.popleft().done.set()
        self._bound = self.session.bound
        self._window_free = self.session.window_free if self._bound else 0
        self._pdus_in = self.session.pdus_in

    def _write(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            n = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return  # the send buffer is full: select tells when it has room
        except OSError as exc:
            self.close_reason = self.close_reason or f"write failed: {exc.strerror or exc}"
            self.session.close(self.close_reason)
            self._out.clear()
            return
        del self._out[:n]
        self._written += n

    def _dispatch(self, ev: sm.Event) -> None:
        if isinstance(ev, sm.Deliver):
            self._handler.on_deliver(self, ev)
        elif isinstance(ev, sm.Response | sm.RequestFailed | sm.TimedOut):
            self._handler.on_response(self, ev)
        elif isinstance(ev, sm.ProtocolError):
            self._handler.on_protocol_error(self, ev)
        elif isinstance(ev, sm.Bound):
            self._bound = True
            self._window_free = self.session.window_free
            self._opened.set()
        elif isinstance(ev, sm.BindRefused):
            raise BindRefused(self.where, ev.status, c.status_name(ev.status))
        elif isinstance(ev, sm.Request):
            if ev.pdu.command_id in c.NO_RESPONSE:
                log.info("smpp.notification", command=ev.pdu.name, tlvs=sorted(ev.pdu.tlvs))
            else:  # data_sm: not taken by this gateway (SPEC: texts come as deliver_sm)
                self.session.respond(ev.pdu.sequence, c.ESME_RINVCMDID)
                self._handler.on_protocol_error(self, sm.ProtocolError(
                    sm.ErrorKind.UNSUPPORTED, ev.pdu.name, ev.pdu.command_id,
                    ev.pdu.sequence))
        elif isinstance(ev, sm.Unbound):
            self.close_reason = self.close_reason or (
                "unbind from SMSC" if ev.by_peer else "unbound")
        elif isinstance(ev, sm.LinkDead):
            if not self._opened.is_set():
                raise LinkError(f"SMSC {self.where}: {ev.reason} during bind")
            self.close_reason = self.close_reason or ev.reason

    def _close_now(self, reason: str) -> None:
        """On the I/O thread (or before it exists): end the session, the socket goes."""
        if not self.close_reason:
            self.close_reason = reason
        self.session.close(self.close_reason)
        self._bound = False
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        self._fail_commands()
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._handler.on_closed(self, self.close_reason or "closed")

    def _fail_commands(self) -> None:
        """Every command not done gets its fallback (the link is closed)."""
        while self._waiting:
            cmd = self._waiting.popleft()
            cmd.result = cmd.fallback
            cmd.done.set()
        while self._commands:
            try:
                cmd = self._commands.popleft()
            except IndexError:
                break
            cmd.done.set()


def _tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock
