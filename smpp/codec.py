"""SMPP 3.4 PDUs as plain values: framing, decoding and encoding, no sockets (sans-I/O).

One codec for the gateway (ESME) and the simulator (SMSC). ``decode``/``encode`` handle
every PDU by its field layout; the PDUs of the hot path have fast paths that skip the
generic machinery: ``decode_sm`` for deliver_sm/submit_sm (§4.6.1, §4.4.1 share a layout),
``encode_submit_sm``/``encode_deliver_sm``, ``encode_sm_resp`` and ``decode_sm_resp``.
tests/smpp checks all of them against smpplib, an independent implementation, both ways.

Errors carry the status SMPP 3.4 §5.1.3 says to answer with. The rule, one for all PDUs:
- an unknown command_id: ESME_RINVCMDID;
- a body that ends inside a mandatory field, a C-Octet String with no NUL within the
  size its field allows, or octets left over where no optional parameters may follow:
  ESME_RINVCMDLEN (command_length does not describe the body);
- sm_length pointing past the end of the body: ESME_RINVMSGLEN;
- an optional parameter cut short: ESME_RINVOPTPARSTREAM.
Optional parameters (TLVs) are kept as raw octets by tag, known or not (§3.2.4 asks that
unknown ones be ignored, never refused); their meaning is read where it is needed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smpp import constants as c

HEADER = struct.Struct(">IIII")  # §3.2: command_length, command_id, command_status, sequence
_HH = struct.Struct(">HH")
_RESP_HEAD = struct.Struct(">III")  # command_id, command_status, sequence at offset 4


class PduError(Exception):
    """A PDU that cannot be decoded; ``status`` is what SMPP says to answer with.
    ``misframed``: its fields do not end where its command_length says the PDU ends (the
    body runs out inside a field, or octets are left over), so the length that framed it
    — and the boundary of every PDU after it — cannot be trusted."""

    def __init__(self, message: str, status: int, command_id: int = 0, sequence: int = 0,
                 *, misframed: bool = False):
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence
        self.misframed = misframed


class FramingError(PduError):
    """The byte stream cannot be split into PDUs any more (bad command_length)."""


@dataclass(slots=True)
class Pdu:
    """Any PDU: header values, mandatory fields by name, optional parameters by tag."""

    command_id: int
    status: int = c.ESME_ROK
    sequence: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)
    raw_body: bytes = b""  # the body of a known command we have no layout for

    @property
    def name(self) -> str:
        return c.command_name(self.command_id)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & c.RESPONSE_BIT)


@dataclass(slots=True)
class ShortMessage:
    """deliver_sm or submit_sm decoded by the fast path (C-Octet Strings as Latin-1 text,
    short_message and TLVs as octets). ``command_id`` says which of the two."""

    command_id: int
    sequence: int
    service_type: str
    source_addr_ton: int
    source_addr_npi: int
    source_addr: str
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present_flag: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def message_payload(self) -> bytes | None:
        return self.tlvs.get(c.TAG_MESSAGE_PAYLOAD)

    @property
    def receipted_message_id(self) -> str | None:
        raw = self.tlvs.get(c.TAG_RECEIPTED_MESSAGE_ID)
        return None if raw is None else raw.rstrip(b"\x00").decode("latin-1")

    @property
    def message_state(self) -> int | None:
        raw = self.tlvs.get(c.TAG_MESSAGE_STATE)
        return raw[0] if raw is not None and len(raw) == 1 else None

    @property
    def body(self) -> bytes:
        """The user data: message_payload when present (§5.3.2.32), else short_message."""
        payload = self.tlvs.get(c.TAG_MESSAGE_PAYLOAD)
        return payload if payload else self.short_message


# Field layouts: (name, kind, max octets incl. NUL). Kinds: "c" C-Octet String,
# "u8" Integer(1), "sm" sm_length + short_message.
Layout = tuple[tuple[str, str, int], ...]
_BIND: Layout = (  # §4.1.1 (and §4.1.3, §4.1.5)
    ("system_id", "c", 16),
    ("password", "c", 9),
    ("system_type", "c", 13),
    ("interface_version", "u8", 1),
    ("addr_ton", "u8", 1),
    ("addr_npi", "u8", 1),
    ("address_range", "c", 41),
)
_SM: Layout = (  # §4.4.1 submit_sm and §4.6.1 deliver_sm share the layout
    ("service_type", "c", 6),
    ("source_addr_ton", "u8", 1),
    ("source_addr_npi", "u8", 1),
    ("source_addr", "c", 21),
    ("dest_addr_ton", "u8", 1),
    ("dest_addr_npi", "u8", 1),
    ("destination_addr", "c", 21),
    ("esm_class", "u8", 1),
    ("protocol_id", "u8", 1),
    ("priority_flag", "u8", 1),
    ("schedule_delivery_time", "c", 17),
    ("validity_period", "c", 17),
    ("registered_delivery", "u8", 1),
    ("replace_if_present_flag", "u8", 1),
    ("data_coding", "u8", 1),
    ("sm_default_msg_id", "u8", 1),
    ("short_message", "sm", 254),
)
_DATA_SM: Layout = (  # §4.7.1
    ("service_type", "c", 6),
    ("source_addr_ton", "u8", 1),
    ("source_addr_npi", "u8", 1),
    ("source_addr", "c", 65),
    ("dest_addr_ton", "u8", 1),
    ("dest_addr_npi", "u8", 1),
    ("destination_addr", "c", 65),
    ("esm_class", "u8", 1),
    ("registered_delivery", "u8", 1),
    ("data_coding", "u8", 1),
)
_ALERT: Layout = (  # §4.12.1
    ("source_addr_ton", "u8", 1),
    ("source_addr_npi", "u8", 1),
    ("source_addr", "c", 65),
    ("esme_addr_ton", "u8", 1),
    ("esme_addr_npi", "u8", 1),
    ("esme_addr", "c", 65),
)
_QUERY: Layout = (  # §4.8.1
    ("message_id", "c", 65),
    ("source_addr_ton", "u8", 1),
    ("source_addr_npi", "u8", 1),
    ("source_addr", "c", 21),
)
_QUERY_RESP: Layout = (  # §4.8.2
    ("message_id", "c", 65),
    ("final_date", "c", 17),
    ("message_state", "u8", 1),
    ("error_code", "u8", 1),
)
_OUTBIND: Layout = (("system_id", "c", 16), ("password", "c", 9))  # §4.1.7
_BIND_RESP: Layout = (("system_id", "c", 16),)  # §4.1.2
_SM_RESP: Layout = (("message_id", "c", 65),)  # §4.4.2, §4.6.2, §4.7.2

LAYOUTS: dict[int, Layout] = {
    c.BIND_RECEIVER: _BIND, c.BIND_TRANSMITTER: _BIND, c.BIND_TRANSCEIVER: _BIND,
    c.BIND_RECEIVER_RESP: _BIND_RESP, c.BIND_TRANSMITTER_RESP: _BIND_RESP,
    c.BIND_TRANSCEIVER_RESP: _BIND_RESP,
    c.OUTBIND: _OUTBIND,
    c.SUBMIT_SM: _SM, c.DELIVER_SM: _SM,
    c.SUBMIT_SM_RESP: _SM_RESP, c.DELIVER_SM_RESP: _SM_RESP,
    c.DATA_SM: _DATA_SM, c.DATA_SM_RESP: _SM_RESP,
    c.QUERY_SM: _QUERY, c.QUERY_SM_RESP: _QUERY_RESP,
    c.ALERT_NOTIFICATION: _ALERT,
    c.GENERIC_NACK: (), c.UNBIND: (), c.UNBIND_RESP: (),
    c.ENQUIRE_LINK: (), c.ENQUIRE_LINK_RESP: (),
}
# Bodies that may carry optional parameters after their mandatory fields (§4).
TLV_ALLOWED = frozenset({
    c.SUBMIT_SM, c.DELIVER_SM, c.DATA_SM, c.DATA_SM_RESP, c.ALERT_NOTIFICATION,
    c.BIND_RECEIVER_RESP, c.BIND_TRANSMITTER_RESP, c.BIND_TRANSCEIVER_RESP,
})


class FrameReader:
    """Splits a byte stream into whole PDUs (each ``bytes`` including its header)."""

    def __init__(self, max_len: int = c.MAX_PDU_LEN) -> None:
        self._buf = bytearray()
        self._max = max_len

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add received bytes; yield every complete PDU. Raises ``FramingError``."""
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        try:
            while end - pos >= 4:
                (length,) = struct.unpack_from(">I", buf, pos)
                if length < c.HEADER_LEN or length > self._max:
                    command_id = sequence = 0
                    if end - pos >= c.HEADER_LEN:
                        _, command_id, _, sequence = HEADER.unpack_from(buf, pos)
                    raise FramingError(
                        f"command_length {length} outside {c.HEADER_LEN}..{self._max}",
                        c.ESME_RINVCMDLEN, command_id, sequence,
                    )
                if end - pos < length:
                    break
                yield bytes(buf[pos:pos + length])
                pos += length
        finally:
            del buf[:pos]


def header(frame: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number)."""
    return HEADER.unpack_from(frame)


# ------------------------------------------------------------------------ decoding
def decode(frame: bytes) -> Pdu:
    """Decode one whole PDU (as yielded by ``FrameReader``). Raises ``PduError``."""
    if len(frame) < c.HEADER_LEN:
        raise PduError("shorter than a header", c.ESME_RINVCMDLEN)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    ident = (command_id, sequence)
    if length != len(frame):
        raise PduError("command_length disagrees with frame", c.ESME_RINVCMDLEN, *ident)
    pdu = Pdu(command_id, status, sequence)
    layout = LAYOUTS.get(command_id)
    if layout is None:
        if command_id not in c.COMMAND_NAMES:
            raise PduError(f"unknown command_id 0x{command_id:08X}", c.ESME_RINVCMDID, *ident)
        pdu.raw_body = frame[c.HEADER_LEN:]
        return pdu
    pos = c.HEADER_LEN
    end = len(frame)
    if command_id & c.RESPONSE_BIT and status != c.ESME_ROK and pos == end:
        return pdu  # §3.3: an error response may omit its body
    params = pdu.params
    for name, kind, size in layout:
        if kind == "c":
            nul = frame.find(b"\x00", pos, pos + size)
            if nul < 0:
                if pos + size > end:
                    raise PduError(f"{name}: body truncated", c.ESME_RINVCMDLEN, *ident,
                                   misframed=True)
                raise PduError(f"{name}: no NUL within {size} octets", c.ESME_RINVCMDLEN, *ident)
            params[name] = frame[pos:nul].decode("latin-1")
            pos = nul + 1
        elif kind == "u8":
            if pos >= end:
                raise PduError(f"{name}: body truncated", c.ESME_RINVCMDLEN, *ident, misframed=True)
            params[name] = frame[pos]
            pos += 1
        else:  # sm_length + short_message
            if pos >= end:
                raise PduError("sm_length: body truncated", c.ESME_RINVCMDLEN, *ident, misframed=True)
            sm_length = frame[pos]
            pos += 1
            if pos + sm_length > end:
                raise PduError("short_message runs past the body", c.ESME_RINVMSGLEN, *ident, misframed=True)
            params[name] = frame[pos:pos + sm_length]
            pos += sm_length
    if pos < end:
        if command_id not in TLV_ALLOWED:
            raise PduError("trailing octets after body", c.ESME_RINVCMDLEN, *ident, misframed=True)
        pdu.tlvs = decode_tlvs(frame, pos, ident)
    return pdu


def decode_tlvs(frame: bytes, pos: int, ident: tuple[int, int] = (0, 0)) -> dict[int, bytes]:
    """Optional parameters from ``pos`` to the end, raw, by tag (a repeated tag: the last)."""
    out: dict[int, bytes] = {}
    end = len(frame)
    while pos < end:
        if end - pos < 4:
            raise PduError("optional parameter truncated", c.ESME_RINVOPTPARSTREAM, *ident, misframed=True)
        tag, tlen = _HH.unpack_from(frame, pos)
        pos += 4
        if pos + tlen > end:
            raise PduError(f"optional parameter 0x{tag:04X} runs past the body",
                           c.ESME_RINVOPTPARSTREAM, *ident, misframed=True)
        out[tag] = frame[pos:pos + tlen]
        pos += tlen
    return out


def decode_sm(frame: bytes) -> ShortMessage:
    """Fast path for deliver_sm / submit_sm (one whole frame): the same rules as
    ``decode``, in straight-line code, into a ``ShortMessage``. Raises ``PduError``."""
    end = len(frame)
    length, command_id, _status, sequence = HEADER.unpack_from(frame)
    ident = (command_id, sequence)
    if length != end:
        raise PduError("command_length disagrees with frame", c.ESME_RINVCMDLEN, *ident)
    find = frame.find
    pos = c.HEADER_LEN
    try:
        nul = find(b"\x00", pos, pos + 6)
        if nul < 0:
            raise IndexError
        service_type = frame[pos:nul].decode("latin-1")
        src_ton, src_npi = frame[nul + 1], frame[nul + 2]
        pos = nul + 3
        nul = find(b"\x00", pos, pos + 21)
        if nul < 0:
            raise IndexError
        source = frame[pos:nul].decode("latin-1")
        dst_ton, dst_npi = frame[nul + 1], frame[nul + 2]
        pos = nul + 3
        nul = find(b"\x00", pos, pos + 21)
        if nul < 0:
            raise IndexError
        dest = frame[pos:nul].decode("latin-1")
        esm_class, protocol_id, priority = frame[nul + 1], frame[nul + 2], frame[nul + 3]
        pos = nul + 4
        nul = find(b"\x00", pos, pos + 17)
        if nul < 0:
            raise IndexError
        schedule = frame[pos:nul].decode("latin-1")
        pos = nul + 1
        nul = find(b"\x00", pos, pos + 17)
        if nul < 0:
            raise IndexError
        validity = frame[pos:nul].decode("latin-1")
        pos = nul + 1
        registered, replace, coding, default_id, sm_length = frame[pos:pos + 5]
    except (IndexError, ValueError):
        # Rare: the generic decoder says which it was (truncated, or a field too long).
        try:
            decode(frame)
        except PduError as err:
            raise err from None
        raise PduError(f"{c.command_name(command_id)} body truncated or field too long",
                       c.ESME_RINVCMDLEN, *ident) from None
    pos += 5
    if pos + sm_length > end:
        raise PduError("short_message runs past the body", c.ESME_RINVMSGLEN, *ident, misframed=True)
    sm = ShortMessage(command_id, sequence, service_type, src_ton, src_npi, source, dst_ton,
                      dst_npi, dest, esm_class, protocol_id, priority, schedule, validity,
                      registered, replace, coding, default_id, frame[pos:pos + sm_length])
    pos += sm_length
    if pos < end:
        sm.tlvs = decode_tlvs(frame, pos, ident)
    return sm


def decode_sm_resp(frame: bytes) -> tuple[int, int, str]:
    """Fast path for submit_sm_resp / deliver_sm_resp: (status, sequence, message_id).
    An error response may omit the body (§3.3); then message_id is ""."""
    _cid, status, sequence = _RESP_HEAD.unpack_from(frame, 4)
    if len(frame) == c.HEADER_LEN:
        return status, sequence, ""
    nul = frame.find(b"\x00", c.HEADER_LEN, c.HEADER_LEN + 65)
    if nul < 0 or nul != len(frame) - 1:
        raise PduError("message_id malformed", c.ESME_RINVCMDLEN, _cid, sequence)
    return status, sequence, frame[c.HEADER_LEN:nul].decode("latin-1")


# ------------------------------------------------------------------------ encoding
def _c(value: str, size: int) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= size:
        raise ValueError(f"{value!r} longer than {size - 1} octets")
    return raw + b"\x00"


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(_HH.pack(tag, len(v)) + v for tag, v in tlvs.items())


def encode(pdu: Pdu) -> bytes:
    """Encode a PDU; missing mandatory fields take their SMPP null value (empty / 0)."""
    layout = LAYOUTS.get(pdu.command_id)
    if layout is None:
        if pdu.command_id not in c.COMMAND_NAMES:
            raise ValueError(f"cannot encode command_id 0x{pdu.command_id:08X}")
        body = pdu.raw_body
    else:
        parts: list[bytes] = []
        omit_body = pdu.is_response and pdu.status != c.ESME_ROK and not pdu.params
        if not omit_body:
            for name, kind, size in layout:
                value = pdu.params.get(name)
                if kind == "c":
                    parts.append(_c(value or "", size))
                elif kind == "u8":
                    parts.append(bytes(((value or 0) & 0xFF,)))
                else:
                    sm = value or b""
                    if len(sm) > size:
                        raise ValueError("short_message longer than 254 octets")
                    parts.append(bytes((len(sm),)) + sm)
            parts.append(encode_tlvs(pdu.tlvs))
        body = b"".join(parts)
    return HEADER.pack(c.HEADER_LEN + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


def encode_header_only(command_id: int, status: int, sequence: int) -> bytes:
    return HEADER.pack(c.HEADER_LEN, command_id, status, sequence)


def encode_sm_resp(command_id: int, status: int, sequence: int, message_id: str = "") -> bytes:
    """submit_sm_resp / deliver_sm_resp / data_sm_resp. deliver_sm_resp's message_id is
    unused and NULL (§4.6.2); an error response keeps its body too (accepted by all peers)."""
    mid = message_id.encode("latin-1") + b"\x00"
    return HEADER.pack(c.HEADER_LEN + len(mid), command_id, status, sequence) + mid


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    return HEADER.pack(17, c.DELIVER_SM_RESP, status, sequence) + b"\x00"


def generic_nack(sequence: int, status: int) -> bytes:
    return HEADER.pack(c.HEADER_LEN, c.GENERIC_NACK, status, sequence)


def _sm(command_id: int, sequence: int, source_addr: str, source_ton: int, source_npi: int,
        destination_addr: str, dest_ton: int, dest_npi: int, esm_class: int,
        data_coding: int, short_message: bytes, tlvs: bytes, registered_delivery: int) -> bytes:
    if len(short_message) > 254:
        raise ValueError("short_message longer than 254 octets")
    source = source_addr.encode("latin-1")
    dest = destination_addr.encode("latin-1")
    if len(source) > 20 or len(dest) > 20:
        raise ValueError("address longer than 20 octets")
    body = b"".join((
        b"\x00",  # service_type: default
        bytes((source_ton, source_npi)), source, b"\x00",
        bytes((dest_ton, dest_npi)), dest, b"\x00",
        bytes((esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
        b"\x00\x00",  # schedule_delivery_time, validity_period: immediate, SMSC default
        bytes((registered_delivery, 0, data_coding, 0, len(short_message))),
        short_message,
        tlvs,
    ))
    return HEADER.pack(c.HEADER_LEN + len(body), command_id, 0, sequence) + body


def encode_submit_sm(sequence: int, source_addr: str, source_ton: int, source_npi: int,
                     destination_addr: str, dest_ton: int, dest_npi: int, esm_class: int,
                     data_coding: int, short_message: bytes, *, tlvs: bytes = b"",
                     registered_delivery: int = 0) -> bytes:
    """Fast path: a submit_sm (§4.4.1) without a ``Pdu`` object."""
    return _sm(c.SUBMIT_SM, sequence, source_addr, source_ton, source_npi, destination_addr,
               dest_ton, dest_npi, esm_class, data_coding, short_message, tlvs,
               registered_delivery)


def encode_deliver_sm(sequence: int, source_addr: str, source_ton: int, source_npi: int,
                      destination_addr: str, esm_class: int, data_coding: int,
                      short_message: bytes, tlvs: bytes = b"", registered_delivery: int = 0,
                      dest_ton: int = 0, dest_npi: int = 0) -> bytes:
    """Fast path: a deliver_sm (§4.6.1). dest_addr_ton/npi default to unknown, as SMSCs
    send them for a short number."""
    return _sm(c.DELIVER_SM, sequence, source_addr, source_ton, source_npi, destination_addr,
               dest_ton, dest_npi, esm_class, data_coding, short_message, tlvs,
               registered_delivery)


def hexdump(data: bytes, width: int = 16) -> str:
    """Readable hex dump for PDU logging."""
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off:off + width]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {chunk.hex(' '):<{width * 3}} {text}")
    return "\n".join(lines)
