"""One SMPP 3.4 session, sans-I/O: bytes, calls and ``now`` in; bytes and events out.

Shaped like h11's ``Connection``: the session holds every piece of protocol state — the
bind state (§2.3), sequence numbers (§3.2), the requests awaiting a response with their
deadlines, the window, when enquire_link is due and whether the link is dead — and no
socket, thread, clock or event loop. The driver feeds it what it read
(``receive_data``), calls ``tick`` when ``next_deadline`` comes, writes what
``data_to_send`` returns, and acts on the events. The same class serves both ends: the
ESME role (the gateway) and the SMSC role (the simulator); the tables below say which
requests each role may receive and send in which state.

What the session decides on its own, as SMPP 3.4 asks:
- enquire_link is answered at once (§4.11), in every state but CLOSED; unbind is answered
  with unbind_resp and the session closes (§4.2);
- a request not allowed in the current state gets its own response with
  ESME_RINVBNDSTS (§2.3; generic_nack when it has no response of its own);
- an undecodable PDU gets generic_nack with the status the codec names (§3.3, §5.1.3);
  a framing error (command_length out of range) also ends the session, since the next
  PDU boundary cannot be found;
- a response is accepted only when its sequence number belongs to an outstanding request
  *and* its command is that request's response (or generic_nack); anything else is a
  ``ProtocolError`` and changes nothing;
- no response to bind, unbind or enquire_link by the deadline: the link is dead
  (``LinkDead``). No response to any other request by its deadline: ``TimedOut``, and the
  window slot is free again; the driver decides (resubmit, or recycle the link).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smpp import codec
from smpp import constants as c
from smpp.codec import Pdu, PduError, ShortMessage


class Role(enum.Enum):
    ESME = "esme"
    SMSC = "smsc"

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code


class State(enum.Enum):
    OPEN = "open"  # connected, not bound
    BINDING = "binding"  # ESME: bind sent, no bind_resp yet
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"  # unbind sent, no unbind_resp yet
    CLOSED = "closed"

    __hash__ = object.__hash__


BOUND = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})
BIND_STATE = {c.BIND_TRANSMITTER: State.BOUND_TX, c.BIND_RECEIVER: State.BOUND_RX,
              c.BIND_TRANSCEIVER: State.BOUND_TRX}
BIND_COMMAND = {"transmitter": c.BIND_TRANSMITTER, "receiver": c.BIND_RECEIVER,
                "transceiver": c.BIND_TRANSCEIVER}

_ANY = frozenset({c.ENQUIRE_LINK})
_TO_ESME_RX = frozenset({c.DELIVER_SM, c.DATA_SM, c.ALERT_NOTIFICATION, c.UNBIND})
_TO_ESME_TX = frozenset({c.DATA_SM, c.UNBIND})  # §2.3: data_sm flows both ways on TX
_TO_SMSC_TX = frozenset({c.SUBMIT_SM, c.SUBMIT_MULTI, c.DATA_SM, c.QUERY_SM, c.CANCEL_SM,
                         c.REPLACE_SM, c.UNBIND})
_TO_SMSC_RX = frozenset({c.UNBIND})
# Requests a party may receive, by the role of the *receiving* side and its state (§2.3).
RECEIVABLE: dict[Role, dict[State, frozenset[int]]] = {
    Role.ESME: {
        State.OPEN: _ANY | {c.OUTBIND}, State.BINDING: _ANY,
        State.BOUND_RX: _ANY | _TO_ESME_RX, State.BOUND_TX: _ANY | _TO_ESME_TX,
        State.BOUND_TRX: _ANY | _TO_ESME_RX | _TO_ESME_TX,
        State.UNBINDING: _ANY, State.CLOSED: frozenset(),
    },
    Role.SMSC: {
        State.OPEN: _ANY | c.BIND_COMMANDS, State.BINDING: _ANY,
        State.BOUND_TX: _ANY | _TO_SMSC_TX, State.BOUND_RX: _ANY | _TO_SMSC_RX,
        State.BOUND_TRX: _ANY | _TO_SMSC_TX | _TO_SMSC_RX,
        State.UNBINDING: _ANY, State.CLOSED: frozenset(),
    },
}
_OTHER = {Role.ESME: Role.SMSC, Role.SMSC: Role.ESME}
# Requests counted against the window (the ones that carry messages).
WINDOWED = frozenset({c.SUBMIT_SM, c.DELIVER_SM, c.DATA_SM, c.SUBMIT_MULTI})
# Requests the session itself sends whatever the peer's table says (bind in OPEN, ...).
_UNCHECKED = frozenset({c.ENQUIRE_LINK, *c.BIND_COMMANDS})
# Requests whose missing response means the link itself is gone.
_VITAL = frozenset({c.ENQUIRE_LINK, c.UNBIND, *c.BIND_COMMANDS})


class LocalProtocolError(Exception):
    """The application asked the session for something SMPP does not allow now."""


# ------------------------------------------------------------------------ events
class DeliverKind(enum.StrEnum):
    """What a deliver_sm is, from its esm_class message type (§5.2.12)."""

    TEXT = "text"  # a subscriber's message (default message type)
    RECEIPT = "receipt"  # an SMSC delivery receipt (message type 0001)
    OTHER = "other"  # any other message type: acknowledgement, notification; no command


@dataclass(slots=True)
class Outstanding:
    """A request we sent and whose response has not come yet."""

    command_id: int
    sequence: int
    sent_at: float
    deadline: float
    context: Any = None

    @property
    def name(self) -> str:
        return c.command_name(self.command_id)


@dataclass(frozen=True, slots=True)
class Bound:
    """ESME: our bind was accepted. SMSC: we accepted the peer's bind."""

    state: State
    system_id: str


@dataclass(frozen=True, slots=True)
class BindRefused:
    status: int


@dataclass(frozen=True, slots=True)
class BindRequested:
    """SMSC role: the peer asks to bind; answer with ``accept_bind`` or ``refuse_bind``."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Deliver:
    """ESME role: a deliver_sm, and what it is: ``text`` (a subscriber's message),
    ``receipt`` (an SMSC delivery receipt, §5.2.12 message type 0001) or ``other`` (any
    other message type: an acknowledgement or notification, never a command)."""

    sm: ShortMessage
    kind: DeliverKind


@dataclass(frozen=True, slots=True)
class Submit:
    """SMSC role: a submit_sm from the ESME."""

    sm: ShortMessage


@dataclass(frozen=True, slots=True)
class Request:
    """Any other request the application must answer (``respond``), or a notification
    (alert_notification, outbind) that takes no answer."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Response:
    """The response to one of our requests: its status and decoded body."""

    request: Outstanding
    status: int
    message_id: str = ""
    pdu: Pdu | None = None


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """generic_nack for one of our requests: the peer could not take it."""

    request: Outstanding
    status: int


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No response to this request by its deadline; its window slot is free again."""

    request: Outstanding


class ErrorKind(enum.StrEnum):
    """What was wrong with what the peer sent (a metrics label: values never change)."""

    BAD_LENGTH = "bad_length"  # command_length out of bounds or not matching the body
    MALFORMED = "malformed"  # a body the codec cannot decode (§3.3), framed right
    MISFRAMED = "misframed"  # fields that do not end where command_length says: link ends
    UNKNOWN_COMMAND = "unknown_command"  # a command_id SMPP 3.4 does not define
    UNSUPPORTED = "unsupported"  # a request this role never takes
    BEFORE_BIND = "before_bind"  # a request that needs a bind, before one (§2.3)
    WRONG_STATE = "wrong_state"  # a request the bind state does not allow (§2.3)
    GENERIC_NACK = "generic_nack"  # the peer refused one of our requests
    GENERIC_NACK_ZERO = "generic_nack_zero"  # a generic_nack with status 0: contradiction
    UNEXPECTED_RESPONSE = "unexpected_response"  # a response to nothing outstanding
    DRIVER_CRASHED = "reader_crashed"  # the driver's own bug, reported as the peer's


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Something the peer sent that SMPP does not allow; already answered if it needed an
    answer. ``kind`` is a stable short code for metrics."""

    kind: ErrorKind
    detail: str
    command_id: int = 0
    sequence: int = 0
    status: int = 0


@dataclass(frozen=True, slots=True)
class Unbound:
    """The unbind exchange is over (either side asked); close the connection.
    ``sequence`` is the unbind's (the peer's, or ours)."""

    by_peer: bool
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class LinkDead:
    """The session's verdict: the connection is of no further use; close it."""

    reason: str


Event = (Bound | BindRefused | BindRequested | Deliver | Submit | Request | Response
         | RequestFailed | TimedOut | ProtocolError | Unbound | LinkDead)


def classify(esm_class: int) -> DeliverKind:
    """text / receipt / other, from esm_class's message type bits (§5.2.12)."""
    kind = esm_class & c.ESM_MESSAGE_TYPE_MASK
    if not kind:
        return DeliverKind.TEXT
    return DeliverKind.RECEIPT if kind == c.ESM_DELIVERY_RECEIPT else DeliverKind.OTHER


# ------------------------------------------------------------------------ the session
@dataclass(slots=True)
class _Timers:
    response_timeout: float
    enquire_link_interval: float | None


class Session:
    def __init__(self, role: Role, *, window: int = 10, response_timeout: float = 10.0,
                 enquire_link_interval: float | None = 30.0, now: float = 0.0,
                 max_pdu: int = c.MAX_PDU_LEN) -> None:
        self.role = role
        self._receivable = RECEIVABLE[role]
        self._sendable = RECEIVABLE[_OTHER[role]]
        self.state = State.OPEN
        self.window = window
        self.timers = _Timers(response_timeout, enquire_link_interval)
        self.system_id = ""
        self.close_reason = ""
        self.last_rx = now
        self.pdus_in = 0
        self._reader = codec.FrameReader(max_pdu)
        self._max_pdu = max_pdu
        self._out: list[bytes] = []
        self._outstanding: dict[int, Outstanding] = {}
        self._windowed = 0
        self._awaiting: dict[int, int] = {}  # peer requests we owe a response: seq -> cmd
        self._next_seq = 1
        self._bind_seq = 0

    # ---------------------------------------------------------------- introspection
    @property
    def state(self) -> State:
        return self._state

    @state.setter
    def state(self, new: State) -> None:
        self._state = new
        self._bound = new in BOUND
        self._may_receive = self._receivable[new]
        # The peer sees our bind as complete once it answered it; while we bind, OPEN.
        self._may_send = self._sendable[State.OPEN if new is State.BINDING else new]

    @property
    def bound(self) -> bool:
        return self._bound

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    @property
    def window_free(self) -> int:
        return max(0, self.window - self._windowed)

    @property
    def outstanding(self) -> list[Outstanding]:
        return list(self._outstanding.values())

    def awaiting(self, sequence: int) -> bool:
        """Is a response to the peer's request ``sequence`` still owed on this session?"""
        return sequence in self._awaiting

    def next_deadline(self) -> float | None:
        """When ``tick`` next has something to do (a deadline or enquire_link due)."""
        if self.closed:
            return None
        times = [o.deadline for o in self._outstanding.values()]
        due = self._enquire_due()
        if due is not None:
            times.append(due)
        return min(times) if times else None

    def data_to_send(self) -> bytes:
        out, self._out = self._out, []
        return b"".join(out)

    # ---------------------------------------------------------------- sending requests
    def next_sequence(self) -> int:
        """A sequence number for a PDU the application writes itself (not tracked)."""
        return self._sequence()

    def _sequence(self) -> int:
        seq = self._next_seq
        while seq in self._outstanding:
            seq = seq % c.MAX_SEQUENCE + 1
        self._next_seq = seq % c.MAX_SEQUENCE + 1
        return seq


    def send_request(self, command_id: int, frame_for: Callable[[int], bytes], now: float,
                     *, context: Any = None, timeout: float | None = None) -> int:
        """Queue a request built by ``frame_for(sequence)``; returns its sequence number.
        A request that counts against the window needs ``window_free`` > 0."""
        if command_id not in self._may_send and command_id not in _UNCHECKED:
            raise LocalProtocolError(
                f"{c.command_name(command_id)} may not be sent by the {self.role.value} "
                f"in state {self._state.value}")
        if self._state is State.CLOSED:
            raise LocalProtocolError("session is closed")
        windowed = command_id in WINDOWED
        if windowed and self._windowed >= self.window:
            raise LocalProtocolError("window full")
        seq = self._sequence()
        deadline = now + (self.timers.response_timeout if timeout is None else timeout)
        self._outstanding[seq] = Outstanding(command_id, seq, now, deadline, context)
        if windowed:
            self._windowed += 1
        self._out.append(frame_for(seq))
        return seq

    def bind(self, mode: str, system_id: str, password: str, now: float, *,
             system_type: str = "", addr_ton: int = 0, addr_npi: int = 0,
             address_range: str = "") -> int:
        """ESME: send bind_transmitter/receiver/transceiver (§4.1)."""
        if self.role is not Role.ESME or self.state is not State.OPEN:
            raise LocalProtocolError(f"cannot bind in state {self.state.value}")
        command_id = BIND_COMMAND[mode]
        params = {"system_id": system_id, "password": password, "system_type": system_type,
                  "interface_version": c.INTERFACE_VERSION, "addr_ton": addr_ton,
                  "addr_npi": addr_npi, "address_range": address_range}
        seq = self.send_request(command_id,
                                lambda s: codec.encode(Pdu(command_id, 0, s, params)), now)
        self.state = State.BINDING
        self._bind_seq = seq
        return seq

    def enquire_link(self, now: float) -> int:
        return self.send_request(
            c.ENQUIRE_LINK, lambda s: codec.encode_header_only(c.ENQUIRE_LINK, 0, s), now)

    def unbind(self, now: float) -> int:
        """Start the unbind exchange (§4.2); ``Unbound`` follows on unbind_resp."""
        if not self.bound:
            raise LocalProtocolError(f"cannot unbind in state {self.state.value}")
        seq = self.send_request(c.UNBIND, lambda s: codec.encode_header_only(c.UNBIND, 0, s),
                                now)
        self.state = State.UNBINDING
        return seq

    # ---------------------------------------------------------------- answering the peer
    def respond(self, sequence: int, status: int, *, message_id: str = "",
                body: Pdu | None = None) -> bool:
        """Answer the peer's request ``sequence``. False (nothing sent) when no such
        request is owed on this session — e.g. it came on an earlier connection."""
        command_id = self._awaiting.pop(sequence, None)
        if command_id is None or self.closed:
            return False
        resp_id = command_id | c.RESPONSE_BIT
        if body is not None:
            body.command_id, body.status, body.sequence = resp_id, status, sequence
            self._out.append(codec.encode(body))
        elif command_id == c.DELIVER_SM:
            self._out.append(codec.deliver_sm_resp(sequence, status))
        elif command_id in (c.SUBMIT_SM, c.DATA_SM):
            self._out.append(codec.encode_sm_resp(resp_id, status, sequence, message_id))
        else:
            self._out.append(codec.encode_header_only(resp_id, status, sequence))
        return True

    def abandon(self, sequence: int) -> bool:
        """Give up answering the peer's request ``sequence`` (the simulator's faults)."""
        return self._awaiting.pop(sequence, None) is not None

    def accept_bind(self, request: Pdu, system_id: str, *, tlvs: dict[int, bytes] | None = None,
                    ) -> Bound:
        """SMSC: accept the bind ``request``; the session is bound from now on."""
        self.state = BIND_STATE[request.command_id]
        self.system_id = str(request.params.get("system_id", ""))
        self.respond(request.sequence, c.ESME_ROK,
                     body=Pdu(0, params={"system_id": system_id}, tlvs=dict(tlvs or {})))
        return Bound(self.state, self.system_id)

    def refuse_bind(self, request: Pdu, status: int) -> None:
        self.respond(request.sequence, status)

    # ---------------------------------------------------------------- receiving
    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Bytes read from the connection; ``b""`` means the peer closed it."""
        if self.closed:
            return []
        if not data:
            return self._die("connection closed by peer")
        events: list[Event] = []
        if not self._reader.buffered and int.from_bytes(data[:4], "big") == len(data) \
                and c.HEADER_LEN <= len(data) <= self._max_pdu:
            # One whole PDU (the usual case for small responses): no buffering needed.
            self.last_rx = now
            self.pdus_in += 1
            self._frame(data, now, events)
            return events
        try:
            for frame in self._reader.feed(data):
                self.last_rx = now
                self.pdus_in += 1
                self._frame(frame, now, events)
                if self.closed:
                    break
        except codec.FramingError as err:
            # §3.3: generic_nack for an invalid command_length; the stream is lost with it.
            self._out.append(codec.generic_nack(err.sequence, err.status))
            events.append(ProtocolError(ErrorKind.BAD_LENGTH, str(err), err.command_id, err.sequence))
            events += self._die(f"bad PDU: {err}")
        return events

    def _frame(self, frame: bytes, now: float, events: list[Event]) -> None:
        _length, command_id, status, seq = codec.HEADER.unpack_from(frame)
        if command_id & c.RESPONSE_BIT:
            self._response(frame, command_id, status, seq, events)
            return
        if command_id not in self._may_receive:
            self._refuse(frame, command_id, seq, events)
            return
        if command_id == c.ENQUIRE_LINK:
            self._out.append(codec.encode_header_only(c.ENQUIRE_LINK_RESP, c.ESME_ROK, seq))
            return
        if command_id == c.UNBIND:
            self._out.append(codec.encode_header_only(c.UNBIND_RESP, c.ESME_ROK, seq))
            self.state = State.CLOSED
            self.close_reason = "unbind from peer"
            events.append(Unbound(by_peer=True, sequence=seq))
            return
        try:
            if command_id in (c.DELIVER_SM, c.SUBMIT_SM):
                sm = codec.decode_sm(frame)
                if command_id not in c.NO_RESPONSE:
                    self._awaiting[seq] = command_id
                events.append(Deliver(sm, classify(sm.esm_class)) if command_id == c.DELIVER_SM
                              else Submit(sm))
                return
            pdu = codec.decode(frame)
        except PduError as err:
            self._out.append(codec.generic_nack(seq, err.status))
            if err.misframed:
                self._misframed(err, events)
                return
            events.append(ProtocolError(ErrorKind.MALFORMED, str(err), command_id, seq))
            return
        if command_id in c.BIND_COMMANDS:
            self._awaiting[seq] = command_id
            events.append(BindRequested(pdu))
            return
        if command_id not in c.NO_RESPONSE:
            self._awaiting[seq] = command_id
        events.append(Request(pdu))

    def _refuse(self, frame: bytes, command_id: int, seq: int, events: list[Event]) -> None:
        if command_id not in c.COMMAND_NAMES:
            self._out.append(codec.generic_nack(seq, c.ESME_RINVCMDID))
            events.append(ProtocolError(ErrorKind.UNKNOWN_COMMAND, f"command_id 0x{command_id:08X}",
                                        command_id, seq))
            return
        name = c.command_name(command_id)
        if command_id in c.BIND_COMMANDS and self.bound:
            status = c.ESME_RALYBND
        else:
            status = c.ESME_RINVBNDSTS
        if command_id in c.NO_RESPONSE:
            pass  # outbind / alert_notification take no answer, not even a refusal
        elif self.role is Role.ESME and command_id not in (c.DELIVER_SM, c.DATA_SM, c.UNBIND):
            # A request an SMSC never sends to an ESME (submit_sm, bind, ...): §5.1.3.
            self._out.append(codec.generic_nack(seq, c.ESME_RINVCMDID))
            events.append(ProtocolError(ErrorKind.UNSUPPORTED, name, command_id, seq))
            return
        elif command_id == c.DELIVER_SM:
            self._out.append(codec.deliver_sm_resp(seq, status))
        else:
            self._out.append(codec.encode_header_only(command_id | c.RESPONSE_BIT, status, seq))
        # Named when it arrives: by the time the caller sees the event a bind_resp read in
        # the same chunk may have bound the session (the fault suite caught that race).
        kind = ErrorKind.WRONG_STATE if self._bound else ErrorKind.BEFORE_BIND
        events.append(ProtocolError(kind, f"{name} in state {self.state.value}",
                                    command_id, seq))

    def _response(self, frame: bytes, command_id: int, status: int, seq: int,
                  events: list[Event]) -> None:
        req = self._outstanding.get(seq)
        if command_id == c.GENERIC_NACK:
            if req is None:
                events.append(ProtocolError(ErrorKind.GENERIC_NACK, f"{c.status_name(status)} for "
                                            f"sequence {seq}, no such request", command_id, seq,
                                            status))
                return
            self._pop(seq)
            if status == c.ESME_ROK:
                # A negative acknowledgement with status 0 is a contradiction; it is still a
                # refusal of that request, never its acceptance.
                events.append(ProtocolError(ErrorKind.GENERIC_NACK_ZERO, f"generic_nack(0) for "
                                            f"{req.name} {seq}", command_id, seq))
                status = c.ESME_RSYSERR
            else:
                events.append(ProtocolError(ErrorKind.GENERIC_NACK, f"{c.status_name(status)} for "
                                            f"{req.name} {seq}", command_id, seq))
            if req.command_id in c.BIND_COMMANDS and self.state is State.BINDING:
                self.state = State.OPEN
                events.append(BindRefused(status))
            elif req.command_id == c.UNBIND:
                self.state = State.CLOSED
                events.append(Unbound(by_peer=False, sequence=seq))
            elif req.command_id != c.ENQUIRE_LINK:  # the peer answered: the link is alive
                events.append(RequestFailed(req, status))
            return
        if req is None or command_id != req.command_id | c.RESPONSE_BIT:
            name = c.command_name(command_id)
            what = "no such request" if req is None else f"request was {req.name}"
            events.append(ProtocolError(ErrorKind.UNEXPECTED_RESPONSE, f"{name} for sequence {seq}: "
                                        f"{what}", command_id, seq, status))
            return
        self._pop(seq)
        if req.command_id in c.BIND_COMMANDS:
            if status == c.ESME_ROK:
                self.state = BIND_STATE[req.command_id]
                pdu = self._decode_quietly(frame, events) if len(frame) > c.HEADER_LEN else None
                self.system_id = str(pdu.params.get("system_id", "")) if pdu else ""
                events.append(Bound(self.state, self.system_id))
            else:
                self.state = State.OPEN
                events.append(BindRefused(status))
            return
        if req.command_id == c.UNBIND:
            self.state = State.CLOSED
            self.close_reason = "unbound"
            events.append(Unbound(by_peer=False, sequence=seq))
            return
        if req.command_id == c.ENQUIRE_LINK:
            return
        if command_id == c.DELIVER_SM_RESP:  # §4.6.2: its message_id is unused (NULL)
            events.append(Response(req, status))
            return
        if command_id == c.SUBMIT_SM_RESP:
            try:
                _st, _seq, message_id = codec.decode_sm_resp(frame)
            except PduError as err:
                message_id = ""
                if err.misframed:
                    self._misframed(err, events)
                else:
                    events.append(ProtocolError(ErrorKind.MALFORMED, str(err), command_id, seq))
            events.append(Response(req, status, message_id))
            return
        events.append(Response(req, status, "", self._decode_quietly(frame, events)))

    def _decode_quietly(self, frame: bytes, events: list[Event]) -> Pdu | None:
        try:
            return codec.decode(frame)
        except PduError as err:
            if err.misframed:
                self._misframed(err, events)
            else:
                events.append(ProtocolError(ErrorKind.MALFORMED, str(err), err.command_id,
                                            err.sequence))
            return None

    def _misframed(self, err: PduError, events: list[Event]) -> None:
        """§3.3, §5.1.3: a PDU whose fields do not end where its command_length says. The
        length framed it, so every boundary after it is in doubt: a hostile or broken peer
        that declares 3 octets too few leaves them to be read as the next PDU's header,
        and the next real text would be eaten. Answered (by the caller, if it takes an
        answer), then the connection ends: the peer binds again and sends on a clean
        stream what it had no answer for."""
        events.append(ProtocolError(ErrorKind.MISFRAMED, str(err), err.command_id,
                                    err.sequence, err.status))
        events.extend(self._die(f"misframed PDU: {err}"))

    def _pop(self, seq: int) -> Outstanding:
        req = self._outstanding.pop(seq)
        if req.command_id in WINDOWED:
            self._windowed -= 1
        return req

    # ---------------------------------------------------------------- time
    def _enquire_due(self) -> float | None:
        interval = self.timers.enquire_link_interval
        if interval is None or not self.bound:
            return None
        if any(o.command_id == c.ENQUIRE_LINK for o in self._outstanding.values()):
            return None
        return self.last_rx + interval

    def tick(self, now: float) -> list[Event]:
        """Deadlines that have passed and an enquire_link that is due, as of ``now``."""
        if self.closed:
            return []
        events: list[Event] = []
        for req in [o for o in self._outstanding.values() if o.deadline <= now]:
            self._pop(req.sequence)
            if req.command_id in _VITAL:
                return events + self._die(
                    f"no {req.name}_resp within {req.deadline - req.sent_at:g}s")
            events.append(TimedOut(req))
        due = self._enquire_due()
        if due is not None and now >= due:
            self.enquire_link(now)
        return events

    # ---------------------------------------------------------------- closing
    def _die(self, reason: str) -> list[Event]:
        self.state = State.CLOSED
        self.close_reason = self.close_reason or reason
        return [LinkDead(self.close_reason)]

    def close(self, reason: str = "closed") -> list[Outstanding]:
        """The connection is gone (or being dropped): every outstanding request is handed
        back, and nothing owed to the peer can be answered any more."""
        if not self.close_reason:
            self.close_reason = reason
        self.state = State.CLOSED
        pending = list(self._outstanding.values())
        self._outstanding.clear()
        self._windowed = 0
        self._awaiting.clear()
        return pending
