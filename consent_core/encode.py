"""Turn a reply text into `submit_sm` parts: the data_coding, esm_class and octets of each.

GSM 03.38 when every character has a septet (cheaper, 160 per SMS), else UCS2. Long texts
are split with a concatenation User Data Header (3GPP TS 23.040 §9.2.3.24.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from consent_core import gsm0338

# SMPP 3.4 §5.2.19 data_coding values used for replies.
DC_GSM: Final[int] = 0x00
DC_UCS2: Final[int] = 0x08
# SMPP 3.4 §5.2.12: esm_class bit 6, the short message starts with a User Data Header.
ESM_UDHI: Final[int] = 0x40

# 140 octets of user data (TS 23.040 §9.2.3.16) hold 160 septets or 70 UCS2 characters.
# A 6-octet concat UDH (UDHL, IEI 0x00, IEDL 3, ref, total, seq) leaves 134 octets:
# 153 septets (the UDH plus fill bit takes 7 septets) or 67 UCS2 code units.
GSM_SINGLE: Final[int] = 160
GSM_PART: Final[int] = 153
UCS2_SINGLE: Final[int] = 70
UCS2_PART: Final[int] = 67
# The 8-bit reference IE numbers parts in one octet.
MAX_PARTS: Final[int] = 255


@dataclass(frozen=True, slots=True)
class Part:
    """One `submit_sm` worth of a reply."""

    data_coding: int
    esm_class: int
    short_message: bytes


def encode_sms(text: str, *, ref: int) -> list[Part]:
    """Encode ``text`` as one part, or as concatenated parts numbered with reference
    ``ref`` (taken modulo 256: the 8-bit reference IE).

    Raises ``ValueError`` if ``text`` is not valid Unicode (a lone surrogate) or would need
    more than 255 parts.
    """
    if gsm0338.is_gsm(text):
        units = [gsm0338.encode_char(ch) for ch in text]  # an escape pair stays one unit
        data_coding, single, per_part = DC_GSM, GSM_SINGLE, GSM_PART
        size = 1  # octets per septet, unpacked
    else:
        try:
            units = [ch.encode("utf-16-be") for ch in text]  # a surrogate pair stays one unit
        except UnicodeEncodeError as exc:
            raise ValueError(f"reply text is not valid Unicode: {exc}") from None
        data_coding, single, per_part = DC_UCS2, UCS2_SINGLE, UCS2_PART
        size = 2  # octets per UCS2 code unit

    total_len = sum(len(u) for u in units) // size
    if total_len <= single:
        return [Part(data_coding, 0, b"".join(units))]

    chunks: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for unit in units:
        width = len(unit) // size
        if used + width > per_part:
            chunks.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += width
    chunks.append(b"".join(current))
    if len(chunks) > MAX_PARTS:
        raise ValueError(f"reply needs {len(chunks)} parts, more than {MAX_PARTS}")

    ref8 = ref & 0xFF
    total = len(chunks)
    return [
        Part(data_coding, ESM_UDHI, bytes((5, 0x00, 3, ref8, total, seq)) + chunk)
        for seq, chunk in enumerate(chunks, start=1)
    ]
