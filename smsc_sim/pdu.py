"""SMPP 3.4 PDUs as plain values: framing, decoding and encoding, with no sockets (sans-I/O).

Section numbers cite the SMPP v3.4 specification (issue 1.2, 1999).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">IIII")  # §3.2: command_length, command_id, command_status, sequence
HEADER_LEN = 16
# A frame longer than this is refused before its body is read: the largest legal PDU is a
# submit_sm with a 64 KiB message_payload TLV (§5.3.2.32) plus its mandatory fields.
MAX_PDU_LEN = 0x10000 + 512

# §5.1.2.1 command_id values
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESPONSE_BIT = 0x80000000

COMMAND_NAMES: dict[int, str] = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    QUERY_SM: "query_sm",
    SUBMIT_SM: "submit_sm",
    SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm",
    DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind",
    UNBIND_RESP: "unbind_resp",
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    ENQUIRE_LINK: "enquire_link",
    ENQUIRE_LINK_RESP: "enquire_link_resp",
}

# §5.1.3 command_status values used here
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64  # §5.1.3: "ESME Receiver Temporary App Error Code"
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66

STATUS_NAMES: dict[int, str] = {
    ESME_ROK: "ESME_ROK",
    ESME_RINVMSGLEN: "ESME_RINVMSGLEN",
    ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
    ESME_RINVCMDID: "ESME_RINVCMDID",
    ESME_RINVBNDSTS: "ESME_RINVBNDSTS",
    ESME_RALYBND: "ESME_RALYBND",
    ESME_RSYSERR: "ESME_RSYSERR",
    ESME_RINVDSTADR: "ESME_RINVDSTADR",
    ESME_RBINDFAIL: "ESME_RBINDFAIL",
    ESME_RINVPASWD: "ESME_RINVPASWD",
    ESME_RINVSYSID: "ESME_RINVSYSID",
    ESME_RMSGQFUL: "ESME_RMSGQFUL",
    ESME_RTHROTTLED: "ESME_RTHROTTLED",
    ESME_RX_T_APPN: "ESME_RX_T_APPN",
    ESME_RX_P_APPN: "ESME_RX_P_APPN",
    ESME_RX_R_APPN: "ESME_RX_R_APPN",
}

# §5.3.2 optional parameter tags used here
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427
MESSAGE_STATE_DELIVERED = 2  # §5.2.28

ESM_CLASS_DELIVERY_RECEIPT = 0x04  # §5.2.12, bits 5-2 = 0001
ESM_CLASS_UDHI = 0x40


def command_name(command_id: int) -> str:
    return COMMAND_NAMES.get(command_id, f"0x{command_id:08X}")


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"0x{status:02X}")


class PduError(Exception):
    """A PDU that cannot be decoded; ``status`` is what SMPP says to answer with."""

    def __init__(self, message: str, status: int, command_id: int = 0, sequence: int = 0):
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence


class FramingError(PduError):
    """The byte stream cannot be split into PDUs any more (bad command_length)."""


@dataclass(slots=True)
class Pdu:
    command_id: int
    status: int = ESME_ROK
    sequence: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return command_name(self.command_id)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


# Field layouts: (name, kind, max octets incl. NUL). Kinds: "c" C-Octet String, "u8" Integer(1),
# "sm" sm_length + short_message.
Layout = tuple[tuple[str, str, int], ...]
_BIND: Layout = (  # §4.1.1
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
_BIND_RESP: Layout = (("system_id", "c", 16),)
_SM_RESP: Layout = (("message_id", "c", 65),)

LAYOUTS: dict[int, Layout] = {
    BIND_RECEIVER: _BIND,
    BIND_TRANSMITTER: _BIND,
    BIND_TRANSCEIVER: _BIND,
    BIND_RECEIVER_RESP: _BIND_RESP,
    BIND_TRANSMITTER_RESP: _BIND_RESP,
    BIND_TRANSCEIVER_RESP: _BIND_RESP,
    SUBMIT_SM: _SM,
    DELIVER_SM: _SM,
    SUBMIT_SM_RESP: _SM_RESP,
    DELIVER_SM_RESP: _SM_RESP,
    GENERIC_NACK: (),
    UNBIND: (),
    UNBIND_RESP: (),
    ENQUIRE_LINK: (),
    ENQUIRE_LINK_RESP: (),
}
# Bodies that may carry optional parameters (TLVs) after the mandatory fields.
_TLV_ALLOWED = {SUBMIT_SM, DELIVER_SM, BIND_RECEIVER_RESP, BIND_TRANSMITTER_RESP,
                BIND_TRANSCEIVER_RESP}


class FrameReader:
    """Splits a byte stream into whole PDUs (each ``bytes`` including its header)."""

    def __init__(self, max_len: int = MAX_PDU_LEN) -> None:
        self._buf = bytearray()
        self._max = max_len

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add received bytes; yield every complete PDU. Raises ``FramingError``."""
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        try:
            while end - pos >= 4:
                (length,) = struct.unpack_from(">I", buf, pos)
                if length < HEADER_LEN or length > self._max:
                    command_id = sequence = 0
                    if end - pos >= HEADER_LEN:
                        _, command_id, _, sequence = HEADER.unpack_from(buf, pos)
                    raise FramingError(
                        f"command_length {length} outside {HEADER_LEN}..{self._max}",
                        ESME_RINVCMDLEN, command_id, sequence,
                    )
                if end - pos < length:
                    break
                yield bytes(buf[pos:pos + length])
                pos += length
        finally:
            del buf[:pos]


def _c_string(
    data: bytes, pos: int, limit: int, name: str, pdu: tuple[int, int]
) -> tuple[str, int]:
    nul = data.find(b"\x00", pos, pos + limit)
    if nul < 0:
        raise PduError(f"{name}: no NUL within {limit} octets", ESME_RINVMSGLEN, *pdu)
    return data[pos:nul].decode("latin-1"), nul + 1


def decode(frame: bytes) -> Pdu:
    """Decode one whole PDU (as yielded by ``FrameReader``). Raises ``PduError``."""
    if len(frame) < HEADER_LEN:
        raise PduError("shorter than a header", ESME_RINVCMDLEN)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    ident = (command_id, sequence)
    if length != len(frame):
        raise PduError("command_length disagrees with frame", ESME_RINVCMDLEN, *ident)
    layout = LAYOUTS.get(command_id)
    if layout is None:
        raise PduError(f"unknown command_id 0x{command_id:08X}", ESME_RINVCMDID, *ident)
    pdu = Pdu(command_id, status, sequence)
    pos = HEADER_LEN
    end = len(frame)
    if command_id & RESPONSE_BIT and status != ESME_ROK and pos == end:
        return pdu  # §3.3: an error response may omit its body
    params = pdu.params
    for name, kind, size in layout:
        if kind == "c":
            params[name], pos = _c_string(frame, pos, size, name, ident)
        elif kind == "u8":
            if pos >= end:
                raise PduError(f"{name}: body truncated", ESME_RINVMSGLEN, *ident)
            params[name] = frame[pos]
            pos += 1
        else:  # sm_length + short_message
            if pos >= end:
                raise PduError("sm_length: body truncated", ESME_RINVMSGLEN, *ident)
            sm_length = frame[pos]
            pos += 1
            if pos + sm_length > end:
                raise PduError("short_message: body truncated", ESME_RINVMSGLEN, *ident)
            params[name] = frame[pos:pos + sm_length]
            pos += sm_length
    if pos < end:
        if command_id not in _TLV_ALLOWED:
            raise PduError("trailing octets after body", ESME_RINVCMDLEN, *ident)
        while pos < end:
            if end - pos < 4:
                raise PduError("optional parameter truncated", ESME_RINVMSGLEN, *ident)
            tag, tlen = struct.unpack_from(">HH", frame, pos)
            pos += 4
            if pos + tlen > end:
                raise PduError(f"TLV 0x{tag:04X} truncated", ESME_RINVMSGLEN, *ident)
            pdu.tlvs[tag] = frame[pos:pos + tlen]
            pos += tlen
    return pdu


def _c(value: str, size: int) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= size:
        raise ValueError(f"{value!r} longer than {size - 1} octets")
    return raw + b"\x00"


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(v)) + v for tag, v in tlvs.items())


def encode(pdu: Pdu) -> bytes:
    """Encode a PDU; missing mandatory fields take their SMPP null value (empty / 0)."""
    layout = LAYOUTS.get(pdu.command_id)
    if layout is None:
        raise ValueError(f"cannot encode command_id 0x{pdu.command_id:08X}")
    parts: list[bytes] = []
    omit_body = pdu.is_response and pdu.status != ESME_ROK and not pdu.params
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
    return HEADER.pack(HEADER_LEN + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


def encode_header_only(command_id: int, status: int, sequence: int) -> bytes:
    return HEADER.pack(HEADER_LEN, command_id, status, sequence)


def encode_deliver_sm(
    sequence: int,
    source_addr: str,
    source_ton: int,
    source_npi: int,
    destination_addr: str,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    tlvs: bytes = b"",
    registered_delivery: int = 0,
) -> bytes:
    """The hot path of load mode: a deliver_sm (§4.6.1) built without a ``Pdu`` object."""
    body = b"".join((
        b"\x00",  # service_type
        bytes((source_ton, source_npi)),
        source_addr.encode("ascii"), b"\x00",
        b"\x00\x00",  # dest_addr_ton/npi: unknown, as SMSCs send for a short number
        destination_addr.encode("ascii"), b"\x00",
        bytes((esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
        b"\x00\x00",  # schedule_delivery_time, validity_period: must be NULL in deliver_sm
        bytes((registered_delivery, 0, data_coding, 0, len(short_message))),
        short_message,
        tlvs,
    ))
    return HEADER.pack(HEADER_LEN + len(body), DELIVER_SM, 0, sequence) + body


def hexdump(data: bytes, width: int = 16) -> str:
    """Readable hex dump for ``--log-pdus``."""
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off:off + width]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {chunk.hex(' '):<{width * 3}} {text}")
    return "\n".join(lines)
