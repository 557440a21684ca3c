"""normalise, is_short_number and mask: every spelling of a number → one string."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core.msisdn import (
    TON_UNKNOWN,
    BadSender,
    Msisdn,
    canonical,
    is_short_number,
    mask,
    normalise,
)


@pytest.mark.parametrize(
    ("addr", "ton", "npi", "digits"),
    [
        # TON 1 international
        ("37129123456", 1, 1, "37129123456"),
        ("+37129123456", 1, 1, "37129123456"),
        ("0037129123456", 1, 1, "37129123456"),
        ("447700900123", 1, 1, "447700900123"),
        (" 37129123456 ", 1, 1, "37129123456"),
        ("123456789012345", 1, 1, "123456789012345"),  # 15 digits, the E.164 maximum
        # TON 2 national (Latvian)
        ("29123456", 2, 1, "37129123456"),
        ("67012345", 2, 1, "37167012345"),
        ("37129123456", 2, 1, "37129123456"),  # mislabelled international
        ("+37129123456", 2, 1, "37129123456"),
        # TON 4 subscriber number: Latvia has no area codes
        ("29123456", 4, 1, "37129123456"),
        # TON 0 unknown
        ("+37129123456", 0, 0, "37129123456"),
        ("0037129123456", 0, 0, "37129123456"),
        ("37129123456", 0, 0, "37129123456"),
        ("29123456", 0, 0, "37129123456"),
        ("4915112345678", 0, 1, "4915112345678"),
        ("+4915112345678", 0, 1, "4915112345678"),
    ],
)
def test_numbers_are_normalised_to_international_digits(addr: str, ton: int, npi: int, digits: str) -> None:
    assert normalise(addr, ton, npi) == Msisdn(digits)


@pytest.mark.parametrize(
    ("addr", "ton", "reason"),
    [
        ("LMT", 5, "alphanumeric"),
        ("37129123456", 5, "alphanumeric"),  # the TON decides, not the look
        ("", 1, "empty"),
        ("   ", 0, "empty"),
        ("+", 1, "empty"),
        ("371-2912-3456", 1, "non-digit"),
        ("LMT", 1, "non-digit"),
        ("LMT", 0, "non-digit"),
        ("٣٧١٢٩١٢٣٤٥٦", 1, "non-digit"),  # Arabic-Indic digits are not SMPP digits
        ("++37129123456", 1, "non-digit"),
        ("1234567890123456", 1, "too long"),
        ("123456", 1, "too short"),
        ("037129123456", 1, "starting with 0"),
        ("2912345", 2, "national number of 7 digits"),
        ("291234567", 2, "national number of 9 digits"),
        ("09123456", 2, "national number of 8 digits"),
        ("1234", 0, "ambiguous"),
        ("291234567", 0, "ambiguous"),
        ("1234567890123456", 0, "too long"),
        ("29123456", 3, "TON 3"),
        ("1234", 6, "TON 6"),
        ("29123456", 7, "TON 7"),
    ],
)
def test_bad_senders(addr: str, ton: int, reason: str) -> None:
    result = normalise(addr, ton, 1)
    assert isinstance(result, BadSender), result
    assert reason in result.reason


def test_msisdn_value_refuses_invalid_digits() -> None:
    for bad in ("", "+37129123456", "0123456789", "12345", "1" * 16, "3712912345x"):
        with pytest.raises(ValueError):
            Msisdn(bad)
    assert str(Msisdn("37129123456")) == "37129123456"


@pytest.mark.parametrize(
    ("msisdn", "short", "expected"),
    [
        ("37129307777", "29307777", True),
        ("29307777", "29307777", True),
        (Msisdn("37129307777"), "29307777", True),
        ("37129307777", "37129307777", True),
        ("29307777", "37129307777", True),
        ("+37129307777", "+37129307777", True),
        ("37129307778", "29307777", False),
        ("4429307777", "29307777", False),
        ("1234", "1234", True),
        ("371 1234", "1234", False),
    ],
)
def test_is_short_number(msisdn: Msisdn | str, short: str, expected: bool) -> None:
    assert is_short_number(msisdn, short) is expected


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [
        ("37129123456", "3712912****"),
        (Msisdn("37129123456"), "3712912****"),
        ("447700900123", "44770090****"),
        ("1234", "****"),
        ("12", "**"),
        ("", ""),
    ],
)
def test_mask_hides_the_last_four_digits(msisdn: Msisdn | str, masked: str) -> None:
    assert mask(msisdn) == masked


@settings(max_examples=500)
@given(st.text(max_size=25), st.integers(-5, 300), st.integers(-5, 300))
def test_normalise_never_raises(addr: str, ton: int, npi: int) -> None:
    result = normalise(addr, ton, npi)
    assert isinstance(result, Msisdn | BadSender)


@given(st.from_regex(r"\+?[0-9]{0,18}", fullmatch=True), st.integers(0, 6), st.integers(0, 18))
def test_normalised_numbers_are_valid_e164_digits(addr: str, ton: int, npi: int) -> None:
    result = normalise(addr, ton, npi)
    if isinstance(result, Msisdn):
        assert result.digits.isdigit()
        assert 7 <= len(result.digits) <= 15
        assert result.digits[0] != "0"
        # Normalising is idempotent: the result read as international is itself.
        assert normalise(result.digits, 1, 1) == result
        assert normalise("+" + result.digits, 0, 0) == result


@given(st.from_regex(r"2[0-9]{7}", fullmatch=True))
def test_every_spelling_of_a_latvian_number_is_the_same_msisdn(national: str) -> None:
    spellings = [
        (national, 2),
        (national, 0),
        ("371" + national, 0),
        ("371" + national, 1),
        ("+371" + national, 1),
        ("+371" + national, 0),
        ("00371" + national, 0),
        ("00371" + national, 1),
    ]
    assert {normalise(addr, ton, 1) for addr, ton in spellings} == {Msisdn("371" + national)}


@given(st.one_of(st.from_regex(r"\+?0{0,2}[0-9]{0,17}", fullmatch=True), st.text(max_size=18)))
def test_canonical_is_normalise_where_it_answers(text: str) -> None:
    # The directory's fast path: a number it takes as written is one normalise writes so.
    found = canonical(text)
    if found is not None:
        assert normalise(text, TON_UNKNOWN, 1) == Msisdn(found)


@pytest.mark.parametrize(("text", "expected"), [
    ("37129123456", "37129123456"), ("29123456", None), ("+37129123456", None),
    ("0037129123456", None), ("3712912345678901", None), ("٣٧١٢٩١٢٣٤٥٦", None)])
def test_canonical_takes_only_bare_international_digits(text: str, expected: str | None) -> None:
    assert canonical(text) == expected
