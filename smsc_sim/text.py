"""Texts as a phone would send them: data_coding choice, GSM 03.38, UDH concatenation, and
decoding of what the ESME submits. Pure functions, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass

# 3GPP TS 23.038 §6.2.1 default alphabet, by septet value (0x1B is the escape to the
# extension table). Over SMPP with data_coding 0 an SMSC sends one septet per octet.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {  # TS 23.038 §6.2.1.1
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}
_ENCODE: dict[str, bytes] = {ch: bytes((i,)) for i, ch in enumerate(GSM_BASIC) if i != 0x1B}
_ENCODE.update({ch: bytes((0x1B, v)) for ch, v in GSM_EXTENSION.items()})
_DECODE_EXT = {v: ch for ch, v in GSM_EXTENSION.items()}

CODING_GSM = 0
CODING_LATIN1 = 3
CODING_UCS2 = 8

# One SMS carries 140 octets (TS 23.040 §9.2.3.24): 160 septets; a 6-octet concatenation
# UDH leaves 153 septets, or 134 octets (67 UCS2 characters).
SINGLE_LIMIT = {CODING_GSM: 160, CODING_LATIN1: 140, CODING_UCS2: 140}
PART_LIMIT = {CODING_GSM: 153, CODING_LATIN1: 134, CODING_UCS2: 134}


def gsm_encode(text: str) -> bytes | None:
    """GSM 03.38 unpacked (one septet per octet), or None if a character is not in it."""
    try:
        return b"".join(_ENCODE[ch] for ch in text)
    except KeyError:
        return None


def gsm_decode(data: bytes) -> str:
    out: list[str] = []
    escape = False
    for b in data:
        if escape:
            out.append(_DECODE_EXT.get(b, "?"))
            escape = False
        elif b == 0x1B:
            escape = True
        elif b < 0x80:
            out.append(GSM_BASIC[b])
        else:
            out.append("?")
    return "".join(out)


def encode_text(text: str, coding: int | None = None) -> tuple[int, bytes]:
    """(data_coding, octets) for a text: GSM 03.38 when it fits, else UCS2; or as forced.

    A forced coding that cannot carry a character replaces it with ``?``, as a phone
    restricted to that alphabet would.
    """
    if coding is None:
        gsm = gsm_encode(text)
        if gsm is not None:
            return CODING_GSM, gsm
        return CODING_UCS2, text.encode("utf-16-be")
    if coding == CODING_GSM:
        return CODING_GSM, b"".join(_ENCODE.get(ch, b"?") for ch in text)
    if coding == CODING_LATIN1:
        return CODING_LATIN1, text.encode("latin-1", errors="replace")
    if coding == CODING_UCS2:
        return CODING_UCS2, text.encode("utf-16-be")
    raise ValueError(f"unsupported data_coding {coding} (use 0, 3 or 8)")


def _units(coding: int, octets: bytes) -> list[bytes]:
    """Split octets into characters, so that no part boundary cuts one in two."""
    if coding == CODING_GSM:
        units: list[bytes] = []
        i = 0
        while i < len(octets):
            step = 2 if octets[i] == 0x1B and i + 1 < len(octets) else 1
            units.append(octets[i:i + step])
            i += step
        return units
    if coding == CODING_UCS2:
        units = []
        i = 0
        while i < len(octets):
            hi = octets[i]
            step = 4 if 0xD8 <= hi <= 0xDB and i + 4 <= len(octets) else 2
            units.append(octets[i:i + step])
            i += step
        return units
    return [octets[i:i + 1] for i in range(len(octets))]


def split_parts(coding: int, octets: bytes) -> list[bytes]:
    """Split a long text into part payloads of at most ``PART_LIMIT`` octets."""
    if len(octets) <= SINGLE_LIMIT[coding]:
        return [octets]
    limit = PART_LIMIT[coding]
    parts: list[bytes] = []
    current = b""
    for unit in _units(coding, octets):
        if len(current) + len(unit) > limit:
            parts.append(current)
            current = b""
        current += unit
    if current:
        parts.append(current)
    if len(parts) > 255:
        raise ValueError("text too long for 255 concatenated parts")
    return parts


def udh_concat(ref: int, total: int, seq: int) -> bytes:
    """TS 23.040 §9.2.3.24.1: IEI 0x00, 8-bit reference."""
    return bytes((5, 0x00, 3, ref & 0xFF, total, seq))


def new_ref() -> int:
    return random.randint(0, 255)


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a concatenated message: reference, total parts, this part's number."""

    ref: int
    total: int
    seq: int


def split_udh(short_message: bytes) -> tuple[Segment | None, bytes]:
    """Strip a UDH (present when esm_class has 0x40); return its concatenation info."""
    if not short_message:
        return None, short_message
    udhl = short_message[0]
    header = short_message[1:1 + udhl]
    payload = short_message[1 + udhl:]
    i = 0
    while i + 2 <= len(header):
        iei, ielen = header[i], header[i + 1]
        data = header[i + 2:i + 2 + ielen]
        if iei == 0x00 and ielen == 3 and len(data) == 3:
            return Segment(data[0], data[1], data[2]), payload
        if iei == 0x08 and ielen == 4 and len(data) == 4:
            return Segment((data[0] << 8) | data[1], data[2], data[3]), payload
        i += 2 + ielen
    return None, payload


def decode_text(data_coding: int, octets: bytes) -> str:
    """Decode what an ESME submitted, by data_coding (SMPP 3.4 §5.2.19)."""
    if data_coding in (0, 0xF0) or (data_coding & 0xF0 == 0xF0 and not data_coding & 0x04):
        return gsm_decode(octets)
    if data_coding == 1:
        return octets.decode("ascii", errors="replace")
    if data_coding == CODING_LATIN1:
        return octets.decode("latin-1")
    if data_coding == CODING_UCS2:
        if len(octets) % 2:
            octets = octets + b"\x00"
        return octets.decode("utf-16-be", errors="replace")
    return octets.hex()


# --- what a tester types at the prompt ----------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0",
            "f": "\f"}


class TextSyntaxError(ValueError):
    """A typed text that cannot be read (an unclosed quote, a bad escape)."""


def unescape(text: str) -> str:
    """``\\n``, ``\\t``, ``\\\\``, ``\\"``, ``\\xHH``, ``\\uXXXX``, ``\\UXXXXXXXX`` read as the
    character they name; any other backslash stays as typed (``\\`` is a GSM character)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(nxt)
        if width is None:
            out.append(ch)  # not an escape: keep the backslash
            i += 1
            continue
        digits = text[i + 2:i + 2 + width]
        try:
            if len(digits) != width:
                raise ValueError
            out.append(chr(int(digits, 16)))
        except ValueError:
            raise TextSyntaxError(
                f"\\{nxt} needs {width} hex digits (e.g. \\{nxt}{'0161'[:width].rjust(width, '0')})"
            ) from None
        i += 2 + width
    return "".join(out)


def typed_text(rest: str) -> str | None:
    """The text of ``<msisdn> <text>`` as typed: ``"  jaunumi  stop "`` keeps its spaces,
    ``""`` is the empty text, unquoted text is taken as is (outer blanks dropped); escapes
    work in both. None when nothing was typed at all."""
    stripped = rest.strip()
    if not stripped:
        return None
    quote = stripped[0]
    if quote not in "\"'":
        return unescape(stripped)
    i = 1
    while i < len(stripped):
        if stripped[i] == "\\":
            i += 2
            continue
        if stripped[i] == quote:
            break
        i += 1
    else:
        raise TextSyntaxError(f"unclosed {quote} (close the text with {quote})")
    if stripped[i + 1:].strip():
        raise TextSyntaxError(f"text after the closing {quote}: {stripped[i + 1:].strip()!r}")
    return unescape(stripped[1:i])
