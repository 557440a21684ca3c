"""Turn the octets of a `deliver_sm` into text: a `Decoded` value or a `DecodeError` value.

Never raises: whatever an SMSC or a phone sends, the caller gets a value it can record and
answer. Which `data_coding` values are read, and how (SMPP 3.4 §5.2.19, 3GPP TS 23.038 §4):

| data_coding | read as |
|---|---|
| 0x00 | GSM 03.38 default alphabet, unpacked (one septet per octet), with the extension table |
| 0x01 | IA5 / ASCII (octets above 0x7F are an error) |
| 0x02, 0x04 | 8-bit binary: error ``binary`` |
| 0x03 | ISO-8859-1 (Latin-1) |
| 0x06, 0x07 | ISO-8859-5 (Cyrillic), ISO-8859-8 (Hebrew) |
| 0x08 | UCS2 big-endian; UTF-16 surrogate pairs accepted |
| 0x10-0x7F | TS 23.038 general / auto-deletion groups: bits 3-2 say (see below) |
| 0xC0-0xDF | message-waiting groups, GSM default alphabet |
| 0xE0-0xEF | message-waiting group, UCS2 |
| 0xF0-0xFF | data coding/message class: bit 2 clear = GSM, set = binary |
| anything else (JIS, KS C 5601, pictograms, reserved) | error ``unsupported`` |

In the 0x10-0x7F groups bits 3-2 select the alphabet (00 GSM, 01 binary, 10 UCS2,
11 reserved → ``unsupported``) and bit 5 set means compressed → ``compressed``.
Codings above 0x0F are not SMPP's own values but TS 23.038 data coding schemes that some
SMSCs pass through; a `Decoded` read through that path carries a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from consent_core import gsm0338
from consent_core.concat import Concat

__all__ = ["UDHI", "Concat", "DecodeError", "Decoded", "decode_text", "parse_udh"]

# SMPP 3.4 §5.2.12: esm_class bit 6 = UDHI, the short message starts with a User Data Header.
UDHI: Final[int] = 0x40

# 3GPP TS 23.040 §9.2.3.24: information element identifiers this module acts on.
_IE_CONCAT_8BIT: Final[int] = 0x00
_IE_CONCAT_16BIT: Final[int] = 0x08
# TS 23.040 §9.2.3.24.15/16: national language single / locking shift tables (TS 23.038
# §6.2.1.2.4). None exists for Latvian, and reading such a text with the default table would
# give wrong letters, so these are refused rather than guessed at.
_IE_NATIONAL_SHIFT: Final[frozenset[int]] = frozenset({0x24, 0x25})


@dataclass(frozen=True, slots=True)
class Decoded:
    """A text as received: the characters, the data_coding they came in, the concat IE if any."""

    text: str
    data_coding: int
    concat: Concat | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Octets that are not a readable text. ``reason`` is a stable short code (for metrics and
    the ledger): ``binary``, ``compressed``, ``unsupported``, ``not_gsm``, ``not_ascii``,
    ``ucs2_odd_length``, ``ucs2_lone_surrogate``, ``bad_udh``, ``national_language_table``;
    ``detail`` says more for a human."""

    reason: str
    data_coding: int
    detail: str = ""


class _Alphabet(Enum):
    GSM = "gsm"
    ASCII = "ascii"
    LATIN1 = "latin-1"
    CYRILLIC = "iso8859-5"
    HEBREW = "iso8859-8"
    UCS2 = "ucs2"
    BINARY = "binary"
    COMPRESSED = "compressed"
    UNSUPPORTED = "unsupported"


# SMPP 3.4 §5.2.19, the values SMPP itself defines.
_SMPP_CODINGS: Final[dict[int, _Alphabet]] = {
    0x00: _Alphabet.GSM,
    0x01: _Alphabet.ASCII,
    0x02: _Alphabet.BINARY,
    0x03: _Alphabet.LATIN1,
    0x04: _Alphabet.BINARY,
    0x06: _Alphabet.CYRILLIC,
    0x07: _Alphabet.HEBREW,
    0x08: _Alphabet.UCS2,
}


def _alphabet(data_coding: int) -> _Alphabet:
    """Which alphabet a data_coding value means (see the module table)."""
    if 0x00 <= data_coding <= 0x0F:
        return _SMPP_CODINGS.get(data_coding, _Alphabet.UNSUPPORTED)
    if 0x10 <= data_coding <= 0x7F:
        # TS 23.038 §4 "General Data Coding indication" (00xx) and "Message Marked for
        # Automatic Deletion" (01xx): bit 5 = compressed, bits 3-2 = character set.
        if data_coding & 0x20:
            return _Alphabet.COMPRESSED
        return (_Alphabet.GSM, _Alphabet.BINARY, _Alphabet.UCS2, _Alphabet.UNSUPPORTED)[
            (data_coding >> 2) & 0x03
        ]
    if 0xC0 <= data_coding <= 0xDF:
        return _Alphabet.GSM  # TS 23.038 §4: message waiting indication, discard/store, GSM
    if 0xE0 <= data_coding <= 0xEF:
        return _Alphabet.UCS2  # TS 23.038 §4: message waiting indication, store, UCS2
    if 0xF0 <= data_coding <= 0xFF:
        # TS 23.038 §4 "Data coding/message class": bit 2 = message coding (0 GSM, 1 8-bit).
        return _Alphabet.BINARY if data_coding & 0x04 else _Alphabet.GSM
    return _Alphabet.UNSUPPORTED  # 0x80-0xBF reserved, or not an octet at all


def parse_udh(octets: bytes) -> tuple[bytes, Concat | None, frozenset[int]] | str:
    """Split a User Data Header off ``octets`` (TS 23.040 §9.2.3.24).

    Returns (the rest, the concat IE if any, the set of IE identifiers seen), or a string
    saying what is malformed. A concat IE with total or seq 0, or seq above total, is
    ignored as TS 23.040 §9.2.3.24.1 tells a receiver to.
    """
    if not octets:
        return "UDHI set but the message is empty"
    udhl = octets[0]
    if udhl + 1 > len(octets):
        return f"UDH length {udhl} exceeds the {len(octets) - 1} octets that follow"
    header = octets[1 : udhl + 1]
    concat: Concat | None = None
    seen: set[int] = set()
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            return f"truncated information element at UDH offset {i}"
        iei, iedl = header[i], header[i + 1]
        data = header[i + 2 : i + 2 + iedl]
        if len(data) != iedl:
            return f"information element 0x{iei:02X} overruns the UDH"
        seen.add(iei)
        if iei == _IE_CONCAT_8BIT and iedl == 3:
            concat = _concat(data[0], data[1], data[2]) or concat
        elif iei == _IE_CONCAT_16BIT and iedl == 4:
            concat = _concat((data[0] << 8) | data[1], data[2], data[3], 16) or concat
        i += 2 + iedl
    return octets[udhl + 1 :], concat, frozenset(seen)


def _concat(ref: int, total: int, seq: int, ref_bits: int = 8) -> Concat | None:
    if total == 0 or seq == 0 or seq > total:
        return None
    return Concat(ref=ref, total=total, seq=seq, ref_bits=ref_bits)


def _only_edge_surrogates(text: str) -> bool:
    """Lone surrogates only where a split pair leaves them: a low one first, a high one last."""
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udbff" and i != len(text) - 1:
            return False
        if "\udc00" <= ch <= "\udfff" and i != 0:
            return False
    return True


def decode_text(
    short_message: bytes,
    data_coding: int,
    *,
    esm_class: int = 0,
    message_payload: bytes | None = None,
) -> Decoded | DecodeError:
    """Decode a `deliver_sm` text. ``message_payload`` (SMPP 3.4 §5.3.2.32), when given,
    replaces ``short_message`` (the SMSC then sends an empty short_message, §4.6.1)."""
    # No catch-all here on purpose: the property tests must see a bug, not a tidy value.
    octets = bytes(message_payload if message_payload is not None else short_message)
    alphabet = _alphabet(data_coding)
    if alphabet is _Alphabet.BINARY:
        return DecodeError("binary", data_coding, "8-bit data, not a text")
    if alphabet is _Alphabet.COMPRESSED:
        return DecodeError("compressed", data_coding, "TS 23.038 compressed text")
    if alphabet is _Alphabet.UNSUPPORTED:
        return DecodeError("unsupported", data_coding, f"data_coding 0x{data_coding:02X}")

    concat: Concat | None = None
    if esm_class & UDHI:
        split = parse_udh(octets)
        if isinstance(split, str):
            return DecodeError("bad_udh", data_coding, split)
        octets, concat, seen = split
        if alphabet is _Alphabet.GSM and seen & _IE_NATIONAL_SHIFT:
            return DecodeError("national_language_table", data_coding, "national language shift table")

    notes: tuple[str, ...] = ()
    if data_coding > 0x0F:
        notes = (f"data_coding 0x{data_coding:02X} read as {alphabet.value}",)

    if alphabet is _Alphabet.GSM:
        try:
            text, gsm_notes = gsm0338.decode_unpacked(octets)
        except gsm0338.NotGsm as exc:
            return DecodeError("not_gsm", data_coding, str(exc))
        return Decoded(text, data_coding, concat, notes + gsm_notes)
    if alphabet is _Alphabet.UCS2:
        if len(octets) % 2:
            return DecodeError("ucs2_odd_length", data_coding, f"{len(octets)} octets")
        try:
            text = octets.decode("utf-16-be")
        except UnicodeDecodeError as exc:
            # A phone may split a surrogate pair between two parts of a long text: a high
            # surrogate ending one part, its low surrogate opening the next. Such a part
            # keeps its edge surrogate; consent_core.concat pairs it up when joining.
            text = octets.decode("utf-16-be", "surrogatepass")
            if concat is None or not _only_edge_surrogates(text):
                return DecodeError("ucs2_lone_surrogate", data_coding, str(exc))
            notes = (*notes, "surrogate pair split across parts")
        return Decoded(text, data_coding, concat, notes)
    if alphabet is _Alphabet.ASCII:
        try:
            text = octets.decode("ascii")
        except UnicodeDecodeError as exc:
            return DecodeError("not_ascii", data_coding, str(exc))
        return Decoded(text, data_coding, concat, notes)
    # Single-byte ISO-8859 tables. Latin-1 and -5 define every octet; -8 leaves some
    # undefined, and a text using them is reported rather than guessed at.
    try:
        text = octets.decode(alphabet.value)
    except UnicodeDecodeError as exc:
        return DecodeError("unsupported", data_coding, str(exc))
    return Decoded(text, data_coding, concat, notes)
