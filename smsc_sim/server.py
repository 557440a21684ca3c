"""The SMSC: an asyncio SMPP 3.4 server that ESMEs bind to, with MO delivery, redelivery,
receipts, MT capture and switchable faults. ``SmscSimulator`` is the asyncio API."""

from __future__ import annotations

import asyncio
import itertools
import os
import struct
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from smpp import codec
from smpp import constants as c
from smpp.session import (
    BindRequested,
    ProtocolError,
    Request,
    RequestFailed,
    Response,
    Role,
    Session,
    State,
    Submit,
    Unbound,
)
from smsc_sim import receipts
from smsc_sim.capture import ReplyCapture
from smsc_sim.model import Answer, BindInfo, Delivery, Faults, Mo, Reply, SimConfig
from smsc_sim.text import (
    CODING_GSM,
    decode_text,
    encode_text,
    new_ref,
    split_parts,
    udh_concat,
)

log = structlog.get_logger("smsc_sim")

OPEN, BOUND_RX, BOUND_TX, BOUND_TRX, UNBINDING, CLOSED = (
    State.OPEN, State.BOUND_RX, State.BOUND_TX, State.BOUND_TRX, State.UNBINDING, State.CLOSED)
_MODE_NAME = {BOUND_RX: "receiver", BOUND_TX: "transmitter", BOUND_TRX: "transceiver"}
_NEVER = 1e12  # the simulator gives deliver_sm no deadline of its own (it never did)

MALFORMED_KINDS = ("bad_length", "truncated", "unknown_command", "huge_length",
                   "unbound_deliver", "misframed")


class Connection(asyncio.Protocol):
    """One ESME's TCP connection, and the SMPP session over it in the SMSC role
    (``smpp.session``: bind state, sequence numbers, response matching, §5 answers)."""

    def __init__(self, sim: SmscSimulator, conn_id: int) -> None:
        self.sim = sim
        self.conn_id = conn_id
        self.session = Session(Role.SMSC, window=sim.config.window, response_timeout=_NEVER,
                               enquire_link_interval=None)
        self.system_id = ""
        self.peer = "?"
        self.transport: asyncio.Transport | None = None
        # Frames are split here too, so that faults (drop_after) act on whole PDUs.
        self.reader = codec.FrameReader()
        self.inflight: dict[int, Delivery] = {}
        self.out: list[bytes] = []
        self.unbind_handle: asyncio.TimerHandle | None = None

    @property
    def state(self) -> State:
        return self.session.state

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.sim._connection_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.close("connection lost")
        if self.unbind_handle:
            self.unbind_handle.cancel()
        self.sim._connection_lost(self, exc)

    def data_received(self, data: bytes) -> None:
        sim = self.sim
        try:
            for frame in self.reader.feed(data):
                if self.session.closed:
                    return
                sim._pdu_in(self, frame)
        except codec.FramingError as err:
            # §3.3: generic_nack for an invalid command_length; we cannot find the next PDU
            # boundary any more, so the link goes down too (the session says the same).
            sim.count["framing_errors"] += 1
            log.warning("framing error, closing", conn=self.conn_id, error=str(err))
            self.send_now(codec.generic_nack(err.sequence, err.status))
            self.close()
        finally:
            sim.pump()
            self.flush()

    # --- output ------------------------------------------------------------------------
    def next_sequence(self) -> int:
        """A sequence number for a PDU written raw (faults), never one in use."""
        return self.session.next_sequence()

    def queue(self, data: bytes) -> None:
        self.out.append(data)

    def flush(self) -> None:
        pending = self.session.data_to_send()
        if pending:
            self.out.append(pending)
        if self.out and self.transport is not None and not self.transport.is_closing():
            data = b"".join(self.out)
            if self.sim.config.log_pdus:
                self.sim._log_out(self, data)
            self.transport.write(data)
        self.out.clear()

    def send_now(self, data: bytes) -> None:
        self.queue(data)
        self.flush()

    def answer(self) -> None:
        """What the session wrote in answer to the ESME, held back by the delay fault."""
        data = self.session.data_to_send()
        if not data:
            return
        delay = self.sim.faults.delay_ms
        if delay > 0:
            asyncio.get_running_loop().call_later(delay / 1000.0, self.send_now, data)
        else:
            self.queue(data)

    def close(self) -> None:
        if self.transport is not None:
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def receives(self) -> bool:
        return self.state in (BOUND_RX, BOUND_TRX)


class SmscSimulator:
    """An SMSC on ``host:port``; start with ``await start()``, stop with ``await stop()``."""

    def __init__(self, host: str | None = None, port: int | None = None,
                 system_id: str | None = None, password: str | None = None,
                 config: SimConfig | None = None, faults: Faults | None = None,
                 on_reply: Callable[[Reply], None] | None = None,
                 **options: Any) -> None:
        """Arguments left None take ``config``'s value (or ``SimConfig``'s defaults);
        ``options`` are further ``SimConfig`` fields (window, receipts, max_attempts, ...)."""
        named = {"host": host, "port": port, "system_id": system_id, "password": password}
        given = {k: v for k, v in named.items() if v is not None}
        self.config = SimConfig(**{**_config_dict(config or SimConfig()), **given, **options})
        self.port = self.config.port
        self.faults = faults or Faults()
        self.on_reply = on_reply
        self.count: Counter[str] = Counter()
        self.connections: dict[int, Connection] = {}
        self.receivers: list[Connection] = []
        self.answers: deque[Answer] = deque(maxlen=10000)
        self.events: deque[dict[str, Any]] = deque(maxlen=10000)
        self.mos: list[Mo] = []
        self.capture = ReplyCapture(self.config.keep_history, self._reply_done)
        self.receipt_policy = receipts.ReceiptPolicy(
            receipts.parse_mix(self.config.receipt_mix), self.config.receipt_delay)
        self.ready: deque[Delivery] = deque()
        self.source: Iterator[Mo] | None = None  # lazily offered MOs (load mode)
        self.source_expects_reply = True
        self._rr = 0
        self._conn_ids = itertools.count(1)
        self._mo_ids = itertools.count(1)
        self._msg_ids = itertools.count(1)
        self._boot = os.urandom(2).hex()
        self._submits = 0
        self._drop_counter = 0
        self._server: asyncio.base_events.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._retry_handles: set[asyncio.TimerHandle] = set()
        self.started_at = time.time()
        self.last_ack_at: float | None = None

    # --- life cycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._server = await self._loop.create_server(
            lambda: Connection(self, next(self._conn_ids)), self.config.host, self.config.port)
        sock = self._server.sockets[0].getsockname()
        self.port = int(sock[1])
        log.info("smsc listening", host=self.config.host, port=self.port,
                 system_id=self.config.system_id, short_number=self.config.short_number,
                 faults=self.faults.describe())

    async def stop(self) -> None:
        for handle in self._retry_handles:
            handle.cancel()
        self._retry_handles.clear()
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.values()):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        log.info("smsc stopped")

    # --- public operations (call on the loop) ---------------------------------------------
    def send_mo(self, msisdn: str, text: str, *, coding: int | None = None,
                national: bool | None = None, long_mode: str | None = None,
                expect_reply: bool = True, destination: str | None = None) -> Mo:
        """Queue a subscriber's text for delivery to a receiving bind; returns its record.
        ``destination`` addresses it to another number than the short number."""
        mo = self.make_mo(msisdn, text, coding=coding, national=national, long_mode=long_mode,
                          destination=destination)
        self.offer(mo, expect_reply)
        self.pump()
        return mo

    def make_mo(self, msisdn: str, text: str, *, coding: int | None = None,
                national: bool | None = None, long_mode: str | None = None,
                destination: str | None = None) -> Mo:
        cfg = self.config
        dest = destination or cfg.short_number
        digits = msisdn.lstrip("+")
        if len(digits) == 8:
            digits = "371" + digits
        mo = Mo(next(self._mo_ids), digits, text, "mo", time.perf_counter())
        use_national = cfg.national if national is None else national
        if use_national and digits.startswith("371") and len(digits) == 11:
            source, ton = digits[3:], 2  # §5.2.5: TON 2 national, NPI 1 E.164
        else:
            source, ton = digits, 1  # TON 1 international
        data_coding, octets = encode_text(text, cfg.coding if coding is None else coding)
        mode = long_mode or cfg.long_mode
        parts = split_parts(data_coding, octets)
        if len(parts) == 1:
            mo.parts = [Delivery(mo, source, ton, 1, dest, 0, data_coding, octets)]
        elif mode == "payload":
            tlv = codec.encode_tlvs({c.TAG_MESSAGE_PAYLOAD: octets})
            mo.parts = [Delivery(mo, source, ton, 1, dest, 0, data_coding, b"", tlv)]
        else:
            ref = new_ref()
            mo.parts = [
                Delivery(mo, source, ton, 1, dest, c.ESM_UDHI, data_coding,
                         udh_concat(ref, len(parts), i) + part)
                for i, part in enumerate(parts, start=1)
            ]
        return mo

    def clone_mo(self, template: Mo, msisdn: str) -> Mo:
        """A new MO with ``template``'s text and encoding from another number (load mode)."""
        mo = Mo(next(self._mo_ids), msisdn, template.text, "mo", time.perf_counter())
        source = msisdn[3:] if template.parts[0].source_ton == 2 else msisdn
        mo.parts = [Delivery(mo, source, d.source_ton, d.source_npi, d.destination_addr,
                             d.esm_class, d.coding, d.short_message, d.tlvs)
                    for d in template.parts]
        return mo

    def offer(self, mo: Mo, expect_reply: bool = True) -> None:
        self.count["mo_offered"] += 1
        if self.config.keep_history:
            self.mos.append(mo)
        if expect_reply:
            self.capture.expect(mo)
        self.ready.extend(mo.parts)

    def set_fault(self, name: str, value: Any = True) -> None:
        """Switch one fault: throttle/qfull N, drop_after N, delay_ms X, refuse_binds N,
        deliver_before_bind, or ``off`` to clear all."""
        if name in ("off", "clear", "none"):
            self.faults = Faults()
        else:
            key = {"throttle": "throttle_every", "qfull": "qfull_every",
                   "drop": "drop_after", "delay": "delay_ms", "refuse_bind": "refuse_binds",
                   "refuse_binds": "refuse_binds"}.get(name, name)
            if not hasattr(self.faults, key):
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(self.faults, key)
            setattr(self.faults, key, type(current)(value))
            if key == "drop_after":
                self._drop_counter = 0
        log.info("faults", active=self.faults.describe())
        self._event("fault", faults=self.faults.as_dict())

    def unbind_all(self) -> int:
        """Send ``unbind`` (§4.2) to every bound ESME; the link closes on unbind_resp."""
        n = 0
        for conn in list(self.connections.values()):
            if conn.session.bound:
                self._leave_receivers(conn)
                seq = conn.session.unbind(time.monotonic())
                conn.flush()
                loop = asyncio.get_running_loop()
                conn.unbind_handle = loop.call_later(self.config.unbind_timeout, conn.abort)
                self.count["unbind_sent"] += 1
                self._event("unbind_sent", conn=conn.conn_id, sequence=seq)
                log.info("unbind sent", conn=conn.conn_id)
                n += 1
        return n

    def drop_connections(self) -> int:
        """Drop every TCP connection at once, without unbind, as a link failure would."""
        conns = list(self.connections.values())
        for conn in conns:
            conn.abort()
        self.count["connections_dropped"] += len(conns)
        log.info("connections dropped", n=len(conns))
        return len(conns)

    def send_raw(self, data: bytes, conn_id: int | None = None) -> list[int]:
        """Write bytes as they are to one connection or to all; returns the connection ids."""
        targets = [c for c in self.connections.values()
                   if conn_id is None or c.conn_id == conn_id]
        for conn in targets:
            conn.send_now(data)
        self._event("raw_sent", conns=[c.conn_id for c in targets], hex=data[:64].hex())
        return [c.conn_id for c in targets]

    def send_malformed(self, kind: str, conn_id: int | None = None) -> list[tuple[int, int]]:
        """Send a malformed PDU of one kind (see ``MALFORMED_KINDS``) to each connection.

        Returns (connection id, sequence number) pairs, so answers can be found in
        ``answers``. ``unbound_deliver`` goes to connections not bound (or not yet bound:
        it also arms the fault for the next connection to arrive).
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r}; one of {MALFORMED_KINDS}")
        sent: list[tuple[int, int]] = []
        if kind == "unbound_deliver":
            self.faults.deliver_before_bind = True
        for conn in list(self.connections.values()):
            if conn_id is not None and conn.conn_id != conn_id:
                continue
            if kind == "unbound_deliver" and conn.state != OPEN:
                continue
            seq = conn.next_sequence()
            conn.send_now(self._malformed_bytes(kind, seq))
            sent.append((conn.conn_id, seq))
        self.count[f"malformed_{kind}"] += len(sent)
        self._event("malformed_sent", kind=kind, sent=sent)
        log.info("malformed pdu sent", kind=kind, to=sent)
        return sent

    def _malformed_bytes(self, kind: str, seq: int) -> bytes:
        if kind == "bad_length":  # command_length 12: shorter than the 16-octet header
            return struct.pack(">IIII", 12, c.ENQUIRE_LINK, 0, seq)
        if kind == "huge_length":  # 4 GiB announced
            return struct.pack(">IIII", 0xFFFFFFFF, c.DELIVER_SM, 0, seq)
        if kind == "unknown_command":
            return struct.pack(">IIII", 16, 0x000000FF, 0, seq)
        whole = codec.encode_deliver_sm(seq, "37129000000", 1, 1, self.config.short_number, 0,
                                      CODING_GSM, b"VIETA")
        if kind == "truncated":  # consistent length, body cut inside source_addr
            body = whole[16:26]
            return struct.pack(">IIII", 16 + len(body), c.DELIVER_SM, 0, seq) + body
        if kind == "misframed":  # a whole text, its command_length 3 octets short of it
            return struct.pack(">I", len(whole) - 3) + whole[4:]
        return whole  # unbound_deliver

    def stats(self) -> dict[str, Any]:
        counters = dict(self.count)
        latency = {k: (round(v, 2) if v is not None else None)
                   for k, v in self.capture.latency_summary().items()}
        return {
            **counters,
            "mo_offered": self.count["mo_offered"],
            "mo_acknowledged": self.count["mo_acknowledged"],
            "redeliveries": self.count["redeliveries"],
            "temp_errors": self.count["temp_errors"],
            "replies": self.capture.replies_total,
            "answered_twice": self.capture.answered_twice,
            "unsolicited_replies": self.capture.unsolicited,
            "unanswered": self.capture.unanswered(),
            "skipped_unanswered": self.capture.skipped,
            "queued": len(self.ready),
            "inflight": sum(len(c.inflight) for c in self.connections.values()),
            "binds": [_bind_dict(b) for b in self.binds()],
            "latency_ms": latency,
            "faults": self.faults.as_dict(),
            "receipts": self.config.receipts,
            "receipt_policy": self.receipt_policy.as_dict(),
        }

    def binds(self) -> list[BindInfo]:
        return [BindInfo(c.conn_id, _MODE_NAME[c.state], c.system_id, c.peer, len(c.inflight))
                for c in self.connections.values() if c.state in _MODE_NAME]

    def set_receipts(self, on: bool) -> None:
        self.config = _replace(self.config, receipts=on)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked on every bind, ack and reply)."""
        assert self._changed is not None
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
            except TimeoutError:
                pass
        return True

    async def wait_for_bind(self, timeout: float, receivers: int = 1) -> bool:
        return await self.wait_for(lambda: len(self.receivers) >= receivers, timeout)

    # --- delivery ------------------------------------------------------------------------
    def pump(self) -> None:
        """Hand queued deliveries to receiving binds with room in their window."""
        receivers = self.receivers
        if not receivers:
            return
        window = self.config.window
        ready = self.ready
        now = time.monotonic()
        touched: set[Connection] = set()
        n = len(receivers)
        full = 0
        while full < n:
            if not ready:
                if self.source is None:
                    break
                mo = next(self.source, None)
                if mo is None:
                    self.source = None
                    break
                self.offer(mo, self.source_expects_reply)
                continue
            self._rr = (self._rr + 1) % n
            conn = receivers[self._rr]
            if len(conn.inflight) >= window or conn.session.window_free <= 0:
                full += 1
                continue
            full = 0
            delivery = ready.popleft()
            seq = conn.session.send_request(c.DELIVER_SM, delivery.encode, now,
                                            context=delivery)
            conn.inflight[seq] = delivery
            touched.add(conn)
            delivery.attempts += 1
            mo = delivery.mo
            if delivery.attempts > 1:
                self.count["redeliveries"] += 1
            if mo.first_sent is None:
                mo.first_sent = time.perf_counter()
            self.count["deliver_sm_sent"] += 1
        for conn in touched:
            conn.flush()

    def _delivery_failed(self, delivery: Delivery, reason: str) -> None:
        mo = delivery.mo
        if delivery.attempts >= self.config.max_attempts:
            mo.state = "failed"
            self.count["mo_failed" if mo.kind == "mo" else "receipts_failed"] += 1
            log.warning("delivery abandoned", mo_id=mo.mo_id, msisdn=mo.msisdn,
                        attempts=delivery.attempts, reason=reason)
            self._notify()
            return
        cfg = self.config
        delay = min(cfg.retry_min * (2 ** (delivery.attempts - 1)), cfg.retry_max)
        assert self._loop is not None
        handle: asyncio.TimerHandle | None = None

        def again() -> None:
            if handle is not None:
                self._retry_handles.discard(handle)
            self.ready.append(delivery)
            self.pump()

        handle = self._loop.call_later(delay, again)
        self._retry_handles.add(handle)
        log.debug("redelivery scheduled", mo_id=mo.mo_id, in_s=delay, reason=reason)

    def _deliver_resp(self, conn: Connection, status: int, seq: int) -> None:
        delivery = conn.inflight.pop(seq, None)
        if delivery is None:
            self.count["unexpected_deliver_sm_resp"] += 1
            self.answers.append(Answer(conn.conn_id, "deliver_sm_resp", status, seq, time.time()))
            return
        mo = delivery.mo
        if status == c.ESME_ROK:
            mo.acked_parts += 1
            if mo.acked_parts == len(mo.parts):
                mo.state = "acknowledged"
                self.last_ack_at = time.perf_counter()
                self.count["mo_acknowledged" if mo.kind == "mo" else "receipts_acknowledged"] += 1
                self._notify()
        else:
            # §4.6.2 leaves the meaning of an error to the SMSC; like Kannel's peers we take
            # any non-zero status as "try later" (0x64 ESME_RX_T_APPN is the usual one).
            self.count["temp_errors"] += 1
            self.count[f"deliver_sm_resp_{c.status_name(status)}"] += 1
            self.answers.append(Answer(conn.conn_id, "deliver_sm_resp", status, seq, time.time()))
            self._delivery_failed(delivery, c.status_name(status))

    # --- inbound PDUs --------------------------------------------------------------------
    def _pdu_in(self, conn: Connection, frame: bytes) -> None:
        faults = self.faults
        if faults.drop_after:
            self._drop_counter += 1
            if self._drop_counter >= faults.drop_after:
                faults.drop_after = 0
                log.info("fault: dropping connection", conn=conn.conn_id)
                self._event("fault_drop", conn=conn.conn_id)
                self.count["fault_drops"] += 1
                conn.abort()
                conn.session.close("fault: drop")
                return
        if self.config.log_pdus:
            self._log_in(conn, frame)
        command_id = codec.header(frame)[1]
        if command_id == c.ENQUIRE_LINK:
            self.count["enquire_link_received"] += 1
        for ev in conn.session.receive_data(frame, time.monotonic()):
            self._on_event(conn, ev)
        conn.answer()

    def _on_event(self, conn: Connection, ev: Any) -> None:
        if isinstance(ev, Response):
            self._deliver_resp(conn, ev.status, ev.request.sequence)
        elif isinstance(ev, Submit):
            self._on_submit_sm(conn, ev)
        elif isinstance(ev, BindRequested):
            self._on_bind(conn, ev.pdu)
        elif isinstance(ev, RequestFailed):
            self._on_generic_nack(conn, ev.request.sequence, ev.status)
        elif isinstance(ev, Unbound):
            self._on_unbound(conn, ev.by_peer, ev.sequence)
        elif isinstance(ev, ProtocolError):
            self._on_protocol_error(conn, ev)
        elif isinstance(ev, Request):  # query_sm, data_sm, ...: not served by the simulator
            self.count["generic_nack_sent"] += 1
            conn.session.respond(ev.pdu.sequence, c.ESME_RINVCMDID)

    def _on_protocol_error(self, conn: Connection, ev: ProtocolError) -> None:
        name = c.command_name(ev.command_id)
        if ev.kind in ("unexpected_response", "generic_nack"):
            # An answer to nothing the session sent (e.g. to a raw fault PDU): recorded.
            self.count[f"unexpected_{name}"] += 1
            self.answers.append(Answer(conn.conn_id, name, ev.status, ev.sequence, time.time()))
            if ev.command_id == c.GENERIC_NACK:
                self.count["generic_nack_received"] += 1
                log.info("generic_nack from esme", conn=conn.conn_id,
                         status=c.status_name(ev.status), sequence=ev.sequence)
            self._notify()
            return
        self.count["bad_pdus_received"] += 1
        if ev.kind in ("unknown_command", "malformed", "unsupported"):
            self.count["generic_nack_sent"] += 1
        log.warning("bad pdu from esme", conn=conn.conn_id, kind=ev.kind, error=ev.detail,
                    command=name)

    def _on_bind(self, conn: Connection, p: codec.Pdu) -> None:
        system_id = str(p.params.get("system_id", ""))
        password = str(p.params.get("password", ""))
        status = c.ESME_ROK
        if self.faults.refuse_binds > 0:
            self.faults.refuse_binds -= 1
            status = self.faults.refuse_status
        elif system_id != self.config.system_id:
            status = c.ESME_RINVSYSID
        elif password != self.config.password:
            status = c.ESME_RINVPASWD
        if status != c.ESME_ROK:
            self.count["binds_refused"] += 1
            log.info("bind refused", conn=conn.conn_id, system_id=system_id,
                     status=c.status_name(status))
            self._event("bind_refused", conn=conn.conn_id, status=status)
            conn.session.refuse_bind(p, status)
            return
        conn.session.accept_bind(p, "smsc-sim", tlvs={c.TAG_SC_INTERFACE_VERSION: b"\x34"})
        conn.system_id = system_id
        self.count["binds"] += 1
        if conn.receives:
            self.receivers.append(conn)
        log.info("bound", conn=conn.conn_id, mode=_MODE_NAME[conn.state], peer=conn.peer,
                 system_id=system_id)
        self._event("bound", conn=conn.conn_id, mode=_MODE_NAME[conn.state])
        self._notify()

    def _on_unbound(self, conn: Connection, by_peer: bool, seq: int) -> None:
        self._leave_receivers(conn)
        if by_peer:  # the session answered unbind_resp (§4.2); close once it is out
            self.count["unbinds_received"] += 1
            log.info("unbind from esme", conn=conn.conn_id)
            self._event("unbind_received", conn=conn.conn_id)
            assert self._loop is not None
            delay = self.faults.delay_ms / 1000.0 + 0.05
            self._loop.call_later(delay, conn.close)
            return
        self.count["unbind_resp_received"] += 1
        self.answers.append(Answer(conn.conn_id, "unbind_resp", 0, seq, time.time()))
        conn.close()

    def _on_generic_nack(self, conn: Connection, seq: int, status: int) -> None:
        self.count["generic_nack_received"] += 1
        self.answers.append(Answer(conn.conn_id, "generic_nack", status, seq, time.time()))
        log.info("generic_nack from esme", conn=conn.conn_id,
                 status=c.status_name(status), sequence=seq)
        delivery = conn.inflight.pop(seq, None)
        if delivery is not None:
            self.count["temp_errors"] += 1
            self._delivery_failed(delivery, "generic_nack")
        self._notify()

    def _on_submit_sm(self, conn: Connection, ev: Submit) -> None:
        p = ev.sm
        seq = p.sequence
        self.count["submit_sm_received"] += 1
        if not p.destination_addr:
            conn.session.respond(seq, c.ESME_RINVDSTADR)
            self.count["submit_sm_rejected"] += 1
            return
        self._submits += 1
        faults = self.faults
        if faults.silent_submits > 0:  # a hostile SMSC: takes the submit, never answers
            faults.silent_submits -= 1
            self.count["submit_sm_unanswered"] += 1
            conn.session.abandon(seq)
            return
        if faults.bogus_submit_resps > 0:  # answers with the submit's sequence, wrongly
            faults.bogus_submit_resps -= 1
            self.count["submit_sm_bogus_resp"] += 1
            command_id, status = ((c.GENERIC_NACK, 0) if faults.bogus_kind == "generic_nack0"
                                  else (c.ENQUIRE_LINK_RESP, 0))
            conn.session.abandon(seq)
            conn.queue(codec.encode_header_only(command_id, status, seq))
            return
        for every, status, name in ((faults.throttle_every, c.ESME_RTHROTTLED, "throttled"),
                                    (faults.qfull_every, c.ESME_RMSGQFUL, "qfull")):
            if every and self._submits % every == 0:
                self.count[f"submit_sm_{name}"] += 1
                conn.session.respond(seq, status)
                return
        message_id = f"{self._boot}{next(self._msg_ids):08x}"
        conn.session.respond(seq, c.ESME_ROK, message_id=message_id)
        self.count["submit_sm_accepted"] += 1
        params = {name: getattr(p, name) for name in _SM_FIELDS}
        self.capture.submit(params, p.tlvs, message_id)
        if self.config.receipts and p.registered_delivery & 0x03 == 1:  # §5.2.17
            self._queue_receipt(params, message_id)

    def _queue_receipt(self, params: dict[str, Any], message_id: str) -> None:
        stamp = time.strftime("%y%m%d%H%M")
        text = decode_text(int(params.get("data_coding", 0)),
                           bytes(params.get("short_message", b"")))[:20]
        state = self.receipt_policy.pick()  # smsc_sim/receipts.py: outcome mix and delay
        done = time.strftime("%y%m%d%H%M", time.localtime(time.time() + self.receipt_policy.delay))
        body = receipts.receipt_body(message_id, state, stamp, done, text)
        mo = Mo(next(self._mo_ids), str(params.get("destination_addr", "")), body,
                "receipt", time.perf_counter())
        _, octets = encode_text(body, CODING_GSM)
        tlvs = codec.encode_tlvs({
            c.TAG_RECEIPTED_MESSAGE_ID: message_id.encode() + b"\x00",
            c.TAG_MESSAGE_STATE: bytes((receipts.message_state(state),)),
        })
        mo.parts = [Delivery(mo, mo.msisdn, int(params.get("dest_addr_ton", 1)),
                             int(params.get("dest_addr_npi", 1)),
                             str(params.get("source_addr", "")) or self.config.short_number,
                             c.ESM_DELIVERY_RECEIPT, CODING_GSM, octets[:254], tlvs)]
        self.count["receipts_queued"] += 1
        if self.receipt_policy.delay > 0 and self._loop is not None:
            self._loop.call_later(self.receipt_policy.delay, self._release, mo.parts)
        else:
            self.ready.extend(mo.parts)

    def _release(self, parts: list[Delivery]) -> None:
        self.ready.extend(parts)
        self.pump()

    # --- connection bookkeeping ----------------------------------------------------------
    def _connection_made(self, conn: Connection) -> None:
        self.connections[conn.conn_id] = conn
        self.count["connections"] += 1
        log.info("connection", conn=conn.conn_id, peer=conn.peer)
        self._event("connected", conn=conn.conn_id, peer=conn.peer)
        if self.faults.deliver_before_bind:
            self.faults.deliver_before_bind = False
            seq = conn.next_sequence()
            conn.send_now(self._malformed_bytes("unbound_deliver", seq))
            self.count["malformed_unbound_deliver"] += 1
            self._event("malformed_sent", kind="unbound_deliver", sent=[(conn.conn_id, seq)])

    def _connection_lost(self, conn: Connection, exc: Exception | None) -> None:
        self.connections.pop(conn.conn_id, None)
        self._leave_receivers(conn)
        lost = list(conn.inflight.values())
        conn.inflight.clear()
        for delivery in lost:
            self.count["lost_in_flight"] += 1
            self._delivery_failed(delivery, "connection lost before deliver_sm_resp")
        log.info("connection closed", conn=conn.conn_id, in_flight=len(lost),
                 error=str(exc) if exc else None)
        self._event("closed", conn=conn.conn_id, in_flight=len(lost))
        self._notify()

    def _leave_receivers(self, conn: Connection) -> None:
        if conn in self.receivers:
            self.receivers.remove(conn)
            self._rr = 0

    def _reply_done(self, reply: Reply) -> None:
        self._notify()
        if self.on_reply is not None:
            self.on_reply(reply)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _event(self, name: str, **fields: Any) -> None:
        self.events.append({"event": name, "at": time.time(), **fields})

    def _log_in(self, conn: Connection, frame: bytes) -> None:
        _, command_id, status, seq = codec.HEADER.unpack_from(frame)
        log.info("pdu in", conn=conn.conn_id, command=c.command_name(command_id),
                 status=status, sequence=seq, hex="\n" + codec.hexdump(frame))

    def _log_out(self, conn: Connection, data: bytes) -> None:
        pos = 0
        while pos + 16 <= len(data):
            length, command_id, status, seq = codec.HEADER.unpack_from(data, pos)
            frame = data[pos:pos + max(16, min(length, len(data) - pos))]
            log.info("pdu out", conn=conn.conn_id, command=c.command_name(command_id),
                     status=status, sequence=seq, hex="\n" + codec.hexdump(frame))
            if length < 16:
                break
            pos += length


# The mandatory fields of a submit_sm, as the capture records them.
_SM_FIELDS = tuple(name for name, _kind, _size in codec.LAYOUTS[c.SUBMIT_SM])


def _config_dict(cfg: SimConfig) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in SimConfig.__dataclass_fields__}


def _replace(cfg: SimConfig, **changes: Any) -> SimConfig:
    return SimConfig(**{**_config_dict(cfg), **changes})


def _bind_dict(b: BindInfo) -> dict[str, Any]:
    return {"conn_id": b.conn_id, "mode": b.mode, "system_id": b.system_id, "peer": b.peer,
            "inflight": b.inflight}
