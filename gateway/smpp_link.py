"""One SMPP connection to the SMSC: framing, a reader thread, serialised writes.

smpplib's ``Client`` mixes reading, answering and sending on one blocking socket without
locking (python-smpplib #187) and dies when a handler raises (#72); so the gateway owns
the socket and uses smpplib only for PDU bodies. One reader thread reads and dispatches;
every write, from any thread, goes through ``send`` under one lock. The reader never
waits for Redis or the database: deliver_sm is handed to the inbound batcher at once.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from gateway import pdus
from gateway.errors import BindRefused, LinkError

log = structlog.get_logger("gateway.link")

ResponseHandler = Callable[[int, int, Any], None]  # (status, sequence, pdu or None)


class SmppLink:
    """A bound (or binding) SMPP session over TCP."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        conn_id: str,
        on_deliver: Callable[[SmppLink, Any], None],
        on_closed: Callable[[SmppLink, str], None],
        on_bad_pdu: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.host, self.port = host, port
        self.where = f"{host}:{port}"
        self.conn_id = conn_id
        self._on_deliver = on_deliver
        self._on_closed = on_closed
        self._on_bad_pdu = on_bad_pdu
        self._sock: socket.socket | None = None
        self._wlock = threading.Lock()
        self._plock = threading.Lock()
        self._pending: dict[int, ResponseHandler] = {}
        self._seq = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()
        self.close_reason = ""
        self.bound = False
        self.last_rx = time.monotonic()
        self.pdus_in = 0

    # ---------------------------------------------------------------- lifecycle
    def connect(self, timeout: float) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise LinkError(f"cannot connect to SMSC {self.where}: {exc.strerror or exc}") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def bind(self, mode: str, system_id: str, password: str, system_type: str,
             timeout: float) -> None:
        """Bind synchronously (before the reader starts); raise BindRefused or LinkError."""
        command = {"transceiver": "bind_transceiver", "receiver": "bind_receiver",
                   "transmitter": "bind_transmitter"}[mode]
        seq = self.next_sequence()
        frame = pdus.build(command, seq, system_id=system_id, password=password,
                           system_type=system_type, interface_version=0x34,
                           addr_ton=0, addr_npi=0, address_range="")
        self._sendall(frame)
        assert self._sock is not None
        self._sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                resp = self._read_frame()
            except TimeoutError:
                break
            if resp is None:
                raise LinkError(f"SMSC {self.where} closed the connection during bind")
            _length, command_id, status, rseq = pdus.header(resp)
            if command_id == pdus.ENQUIRE_LINK:
                self._sendall(pdus.header_only(pdus.ENQUIRE_LINK_RESP, 0, rseq))
                continue
            if not command_id & 0x80000000:
                # SMPP 3.4 §2.3: an unbound session takes no deliver_sm (or other request)
                # but enquire_link. Refuse it (the SMSC redelivers a text later) and count it.
                self._on_bad_pdu("before_bind")
                log.warning("smpp.pdu_before_bind", command_id=hex(command_id), sequence=rseq,
                            action="generic_nack ESME_RINVBNDSTS")
                self._sendall(pdus.generic_nack(rseq, pdus.ESME_RINVBNDSTS))
                continue
            if rseq != seq:
                continue
            if status != pdus.ESME_ROK:
                raise BindRefused(self.where, status, pdus.status_name(status))
            self.bound = True
            self._sock.settimeout(None)
            return
        raise LinkError(f"SMSC {self.where} did not answer bind within {timeout}s")

    def start(self) -> None:
        self._reader = threading.Thread(target=self._read_loop, name=f"smpp-reader-{self.conn_id}",
                                        daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self._reader is not None and self._reader.is_alive()

    def close(self, reason: str) -> None:
        """Close the socket; the reader notices, fails pending requests and reports once."""
        if not self.close_reason:
            self.close_reason = reason
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._reader is None or not self._reader.is_alive():
            self._finish()

    def wait_closed(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    # ---------------------------------------------------------------- writing
    def next_sequence(self) -> int:
        # SMPP 3.4 §3.2: sequence_number 0x00000001 .. 0x7FFFFFFF.
        return (next(self._seq) - 1) % 0x7FFFFFFF + 1

    def send(self, data: bytes) -> bool:
        """Write bytes; False (and the link closes) when the connection is gone."""
        try:
            self._sendall(data)
            return True
        except OSError as exc:
            self.close(f"write failed: {exc.strerror or exc}")
            return False

    def expect_response(self, seq: int, handler: ResponseHandler) -> None:
        with self._plock:
            self._pending[seq] = handler

    def request_raw(self, frame_for_seq: Callable[[int], bytes], handler: ResponseHandler) -> bool:
        seq = self.next_sequence()
        with self._plock:
            self._pending[seq] = handler
        return self.send(frame_for_seq(seq))

    def _sendall(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        with self._wlock:
            sock.sendall(data)

    # ---------------------------------------------------------------- reading
    def _recv_exact(self, n: int) -> bytes | None:
        assert self._sock is not None
        chunks = []
        while n:
            chunk = self._sock.recv(min(n, 65536))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self) -> bytes | None:
        head = self._recv_exact(4)
        if head is None:
            return None
        length = int.from_bytes(head, "big")
        if not pdus.MIN_PDU <= length <= pdus.MAX_PDU:
            # The stream cannot be re-synchronised after a bad length: nack and drop.
            raise pdus.PduError(pdus.ESME_RINVCMDLEN, f"command_length {length} out of range")
        rest = self._recv_exact(length - 4)
        if rest is None:
            return None
        return head + rest

    def _read_loop(self) -> None:
        try:
            while True:
                try:
                    frame = self._read_frame()
                except pdus.PduError as exc:
                    self._on_bad_pdu("bad_length")
                    log.error("smpp.bad_pdu", reason=str(exc), action="generic_nack and rebind")
                    self.send(pdus.generic_nack(0, exc.status))
                    self.close(f"bad PDU: {exc}")
                    return
                if frame is None:
                    self.close(self.close_reason or "connection closed by SMSC")
                    return
                self.last_rx = time.monotonic()
                self.pdus_in += 1
                self._dispatch(frame)
        except OSError as exc:
            self.close(self.close_reason or f"read failed: {exc.strerror or exc}")
        except Exception as exc:  # a bug must not leave a half-dead link behind
            log.exception("smpp.reader_crashed", error=repr(exc))
            self.close(f"reader crashed: {exc!r}")
        finally:
            self._finish()

    def _dispatch(self, frame: bytes) -> None:
        _length, command_id, status, seq = pdus.header(frame)
        if command_id & 0x80000000:
            with self._plock:
                handler = self._pending.pop(seq, None)
            if command_id == pdus.GENERIC_NACK:
                self._on_bad_pdu("generic_nack_received")
                log.warning("smpp.generic_nack", status=pdus.status_name(status), sequence=seq)
            if handler is None:
                if command_id not in (pdus.ENQUIRE_LINK_RESP, pdus.UNBIND_RESP):
                    log.warning("smpp.unexpected_response", command_id=hex(command_id), sequence=seq)
                return
            pdu = None
            if status == pdus.ESME_ROK and command_id != pdus.GENERIC_NACK and len(frame) > 16:
                try:
                    pdu = pdus.parse(frame)
                except pdus.PduError:
                    pdu = None
            handler(status, seq, pdu)
            return
        if command_id == pdus.ENQUIRE_LINK:
            self.send(pdus.header_only(pdus.ENQUIRE_LINK_RESP, pdus.ESME_ROK, seq))
            return
        if command_id == pdus.UNBIND:
            # SMPP 3.4 §4.2: answer unbind with unbind_resp, then the SMSC closes.
            self.send(pdus.header_only(pdus.UNBIND_RESP, pdus.ESME_ROK, seq))
            self.close("unbind from SMSC")
            return
        try:
            pdu = pdus.parse(frame)
        except pdus.PduError as exc:
            self._on_bad_pdu("malformed")
            log.warning("smpp.bad_pdu", reason=str(exc), sequence=seq, action="generic_nack")
            self.send(pdus.generic_nack(seq, exc.status))
            return
        if command_id == pdus.DELIVER_SM:
            self._on_deliver(self, pdu)
        elif pdu.command == "alert_notification":
            pass  # SMPP 3.4 §4.12: no response is sent
        else:
            self._on_bad_pdu("unsupported")
            log.warning("smpp.unsupported_request", command=pdu.command, action="generic_nack")
            self.send(pdus.generic_nack(seq, pdus.ESME_RINVCMDID))

    def _finish(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.bound = False
        with self._plock:
            pending, self._pending = self._pending, {}
        for seq, handler in pending.items():
            try:
                handler(-1, seq, None)
            except Exception:
                log.exception("smpp.pending_handler_failed")
        self._on_closed(self, self.close_reason or "closed")
