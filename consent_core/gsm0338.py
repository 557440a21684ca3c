"""The GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table, as SMPP carries it.

Over SMPP, `data_coding` 0 texts travel *unpacked*: one septet per octet, high bit clear
(SMPP 3.4 §5.2.19 "SMSC Default Alphabet"; the SMSC packs septets for the air interface).
This module maps between such octet strings and ``str``; it knows nothing of SMPP otherwise.
"""

from __future__ import annotations

from typing import Final

# 3GPP TS 23.038 §6.2.1, "GSM 7 bit Default Alphabet", indexed by septet value 0x00..0x7F.
# 0x1B is ESC (the escape to the extension table), kept as a placeholder here.
# 0x09 is listed by the standard as capital C-cedilla ("Ç"); the small one is not in the
# table, so "ç" in a reply forces UCS2 rather than being silently capitalised.
_BASIC: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"  # 0x10-0x1F (0x1B = ESC)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F (0x24 is the currency sign, not "$")
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F (0x40 is inverted "!", not "@")
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)
assert len(_BASIC) == 128

ESC: Final[int] = 0x1B

# 3GPP TS 23.038 §6.2.1.1, "GSM 7 bit default alphabet extension table": the septet that
# follows ESC. 0x0A is a page break (form feed). 0x0D (CR2) and 0x1B (reserved for a further
# extension table) are control codes with no character of their own.
_EXTENSION: Final[dict[int, str]] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_DECODE_BASIC: Final[tuple[str, ...]] = tuple(_BASIC)
_ENCODE_BASIC: Final[dict[str, int]] = {ch: i for i, ch in enumerate(_BASIC) if i != ESC}
_ENCODE_EXTENSION: Final[dict[str, int]] = {ch: code for code, ch in _EXTENSION.items()}


class NotGsm(ValueError):
    """An octet string that is not unpacked GSM 03.38 (an octet with the high bit set)."""

    def __init__(self, position: int, octet: int) -> None:
        super().__init__(f"octet 0x{octet:02X} at {position} is not a GSM 03.38 septet")
        self.position = position
        self.octet = octet


def septets(ch: str) -> int | None:
    """How many septets ``ch`` takes in the default alphabet (1 or 2), or None if it has none."""
    if ch in _ENCODE_BASIC:
        return 1
    if ch in _ENCODE_EXTENSION:
        return 2
    return None


def is_gsm(text: str) -> bool:
    """True when every character of ``text`` is in the default alphabet or its extension."""
    return all(septets(ch) is not None for ch in text)


def encode_char(ch: str) -> bytes:
    """The unpacked septet(s) for one character; ``KeyError`` if it has none."""
    if ch in _ENCODE_BASIC:
        return bytes((_ENCODE_BASIC[ch],))
    return bytes((ESC, _ENCODE_EXTENSION[ch]))


def encode_unpacked(text: str) -> bytes:
    """``text`` as unpacked septets; ``KeyError`` for a character outside the alphabet."""
    return b"".join(encode_char(ch) for ch in text)


def decode_unpacked(octets: bytes) -> tuple[str, tuple[str, ...]]:
    """Decode unpacked septets into text and notes about anything unusual.

    Raises ``NotGsm`` for an octet above 0x7F (never a septet). Escape handling follows
    TS 23.038 §6.2.1.1: an ESC followed by a septet the extension table does not define is
    shown as that septet's basic character; ESC ESC (reserved for a further table) is shown
    as a space; a trailing lone ESC (a truncated pair) is dropped.
    """
    out: list[str] = []
    notes: list[str] = []
    i = 0
    n = len(octets)
    while i < n:
        octet = octets[i]
        if octet > 0x7F:
            raise NotGsm(i, octet)
        if octet != ESC:
            out.append(_DECODE_BASIC[octet])
            i += 1
            continue
        if i + 1 >= n:
            notes.append("trailing ESC dropped")
            break
        nxt = octets[i + 1]
        if nxt > 0x7F:
            raise NotGsm(i + 1, nxt)
        if nxt in _EXTENSION:
            out.append(_EXTENSION[nxt])
        elif nxt == ESC:
            out.append(" ")
            notes.append("ESC ESC shown as a space")
        else:
            out.append(_DECODE_BASIC[nxt])
            notes.append(f"ESC 0x{nxt:02X} not in the extension table, basic character used")
        i += 2
    return "".join(out), tuple(notes)
