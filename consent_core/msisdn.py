"""Sender numbers: SMPP source address + TON/NPI → international digits, or why not.

The number is the subject of a consent (seed rule 1: "consent is given per phone number"),
so it must be the same string however the SMSC spelled it: international digits, no `+`
(`37129123456`), as every package stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# E.164 §6.1: at most 15 digits including the country code.
MAX_DIGITS: Final[int] = 15
# The shortest international numbers in use (small countries) have 7 digits.
MIN_DIGITS: Final[int] = 7
LATVIA_CC: Final[str] = "371"
# Latvian numbers are closed 8-digit numbers with no trunk prefix (the national numbering plan).
LATVIA_NATIONAL_DIGITS: Final[int] = 8
# Without a `+` or TON, a digit string this long is read as international (many SMSCs send
# TON 0 with international digits); shorter ones other than 8 digits are short codes.
_BARE_INTERNATIONAL_MIN: Final[int] = 10

# SMPP 3.4 §5.2.5, type of number.
TON_UNKNOWN: Final[int] = 0
TON_INTERNATIONAL: Final[int] = 1
TON_NATIONAL: Final[int] = 2
TON_NETWORK_SPECIFIC: Final[int] = 3
TON_SUBSCRIBER: Final[int] = 4
TON_ALPHANUMERIC: Final[int] = 5
TON_ABBREVIATED: Final[int] = 6


@dataclass(frozen=True, slots=True)
class Msisdn:
    """A subscriber number as international digits without `+`."""

    digits: str

    def __post_init__(self) -> None:
        d = self.digits
        if not (d.isascii() and d.isdigit() and MIN_DIGITS <= len(d) <= MAX_DIGITS):
            raise ValueError(f"not an international number: {d!r}")
        if d[0] == "0":
            raise ValueError(f"international numbers do not start with 0: {d!r}")

    def __str__(self) -> str:
        return self.digits


@dataclass(frozen=True, slots=True)
class BadSender:
    """A source address that is no subscriber number we can record or answer."""

    reason: str


def normalise(addr: str, ton: int, npi: int) -> Msisdn | BadSender:
    """The sender as international digits, or a `BadSender` saying why not. Never raises.

    NPI (SMPP 3.4 §5.2.6) is not decisive: SMSCs set it inconsistently, and the digits and
    TON say what we need. It is kept by the caller for the record.
    """
    del npi  # recorded by the caller; see the docstring
    if ton == TON_ALPHANUMERIC:
        return BadSender("alphanumeric")
    raw = addr.strip()
    if not raw:
        return BadSender("empty")
    plus = raw.startswith("+")
    digits = raw[1:] if plus else raw
    if not digits:
        return BadSender("empty")
    if not (digits.isascii() and digits.isdigit()):
        return BadSender("non-digit characters")

    if ton == TON_INTERNATIONAL:
        return _international(digits[2:] if digits.startswith("00") else digits)
    if ton in (TON_NATIONAL, TON_SUBSCRIBER):
        if plus:
            return _international(digits)
        return _national(digits)
    if ton == TON_UNKNOWN:
        if plus:
            return _international(digits)
        if digits.startswith("00"):
            return _international(digits[2:])
        if len(digits) == LATVIA_NATIONAL_DIGITS:
            return _national(digits)
        if len(digits) >= _BARE_INTERNATIONAL_MIN:
            return _international(digits)
        return BadSender(f"ambiguous {len(digits)}-digit number with unknown TON")
    return BadSender(f"TON {ton} is not a subscriber number")


def canonical(text: str) -> str | None:
    """``text`` when it is already a number as ``normalise`` writes it (bare international
    digits), else None: the cheap common case of a directory file, where a million rows
    are read and nearly all are written the way we store them."""
    if (_BARE_INTERNATIONAL_MIN <= len(text) <= MAX_DIGITS and text.isascii()
            and text.isdigit() and text[0] != "0"):
        return text
    return None


def _national(digits: str) -> Msisdn | BadSender:
    if len(digits) == LATVIA_NATIONAL_DIGITS and digits[0] != "0":
        return Msisdn(LATVIA_CC + digits)
    # Some SMSCs mark international Latvian numbers as national; 11 digits starting with
    # 371 cannot be a national Latvian number, so reading it as international is safe.
    if len(digits) == len(LATVIA_CC) + LATVIA_NATIONAL_DIGITS and digits.startswith(LATVIA_CC):
        return Msisdn(digits)
    return BadSender(f"national number of {len(digits)} digits (Latvian numbers have 8)")


def _international(digits: str) -> Msisdn | BadSender:
    if not digits:
        return BadSender("empty")
    if digits[0] == "0":
        return BadSender("international number starting with 0")
    if len(digits) < MIN_DIGITS:
        return BadSender(f"too short ({len(digits)} digits)")
    if len(digits) > MAX_DIGITS:
        return BadSender(f"too long ({len(digits)} digits, E.164 allows {MAX_DIGITS})")
    return Msisdn(digits)


def _digits(msisdn: Msisdn | str) -> str:
    return msisdn.digits if isinstance(msisdn, Msisdn) else msisdn


def is_short_number(msisdn: Msisdn | str, short_number: str) -> bool:
    """True when ``msisdn`` is the gateway's own number (national or international form),
    so that no reply is ever sent to ourselves (SPEC §4: no reply loops)."""
    digits = _digits(msisdn).lstrip("+")
    short = short_number.strip().lstrip("+")
    if digits == short:
        return True
    if len(short) == LATVIA_NATIONAL_DIGITS:
        return digits == LATVIA_CC + short
    if len(digits) == LATVIA_NATIONAL_DIGITS:
        return LATVIA_CC + digits == short
    return False


def mask(msisdn: Msisdn | str) -> str:
    """The number for logs: all but the last four digits (`37129123456` → `3712912****`)."""
    digits = _digits(msisdn)
    keep = max(len(digits) - 4, 0)
    return digits[:keep] + "*" * (len(digits) - keep)
