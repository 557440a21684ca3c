"""SMPP 3.4 PDU encoding and decoding for the gateway.

Bodies are built and parsed with smpplib's PDU classes; the header-only PDUs we answer
most often (deliver_sm_resp, enquire_link_resp, generic_nack) are packed directly, which
is both simpler and several times faster on the hot path.
"""

from __future__ import annotations

import struct
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
    return HEADER.unpack_from(frame)  # type: ignore[return-value]


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
    """Parse one whole PDU; raise PduError with the status to answer in a generic_nack."""
    _length, command_id, _status, sequence = header(frame)
    if command_id not in _KNOWN_IDS:
        raise PduError(ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}", sequence)
    if command_id == DELIVER_SM:
        _check_deliver_sm_body(frame, sequence)
    try:
        pdu = smpplib.smpp.parse_pdu(frame, client=_SEQ, allow_unknown_opt_params=True)
    except (smpplib.exceptions.PDUError, smpplib.exceptions.UnknownCommandError) as exc:
        raise PduError(ESME_RINVCMDID, f"unsupported PDU: {exc}", sequence) from None
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        raise PduError(ESME_RINVCMDLEN, f"malformed body: {exc}", sequence) from None
    pdu.sequence = sequence
    if command_id == DELIVER_SM and (
        pdu.source_addr is None or pdu.short_message is None or pdu.esm_class is None
    ):
        raise PduError(ESME_RINVCMDLEN, "deliver_sm body truncated", sequence)
    return pdu


# SMPP 3.4 §4.6.1: deliver_sm's mandatory parameters, as (kind, maximum size): "c" is a
# C-Octet String that must end in NUL within that size, "i" a 1-octet integer.
_DELIVER_SM_FIELDS = (("c", 6), ("i", 1), ("i", 1), ("c", 21), ("i", 1), ("i", 1), ("c", 21),
                      ("i", 1), ("i", 1), ("i", 1), ("c", 17), ("c", 17), ("i", 1), ("i", 1),
                      ("i", 1), ("i", 1))


def _check_deliver_sm_body(frame: bytes, sequence: int) -> None:
    """Raise PduError when the mandatory part of a deliver_sm does not fit its length.

    smpplib reads past a cut-off body without complaint (a truncated source_addr comes
    back as digits of the next fields); a text must never be built from such bytes.
    """
    pos, end = HEADER.size, len(frame)
    for kind, size in _DELIVER_SM_FIELDS:
        if kind == "i":
            pos += 1
        else:
            nul = frame.find(b"\x00", pos, min(end, pos + size))
            if nul < 0:
                raise PduError(ESME_RINVCMDLEN, "deliver_sm body truncated or field too long",
                               sequence)
            pos = nul + 1
        if pos > end:
            raise PduError(ESME_RINVCMDLEN, "deliver_sm body truncated", sequence)
    if pos >= end or pos + 1 + frame[pos] > end:  # sm_length, then short_message
        raise PduError(ESME_RINVCMDLEN, "deliver_sm short_message runs past command_length",
                       sequence)
