"""decode_text and the GSM 03.38 tables: what each data_coding reads as, UDH, never raising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core import gsm0338
from consent_core.concat import Concat
from consent_core.decode import Decoded, DecodeError, decode_text, parse_udh


def text_of(result: Decoded | DecodeError) -> str:
    assert isinstance(result, Decoded), result
    return result.text


@pytest.mark.parametrize(
    ("octets", "expected"),
    [
        (b"VIETA STOP", "VIETA STOP"),
        (b"jaunumi", "jaunumi"),
        (b"\x00", "@"),  # septet 0x00 is "@", not NUL
        (b"\x02", "$"),
        (b"\x24", "¤"),  # 0x24 is the currency sign, not "$"
        (b"\x40", "¡"),
        (b"\x11", "_"),
        (b"\x10\x12\x13", "ΔΦΓ"),
        (b"\x5b\x5c\x5d\x5e\x5f", "ÄÖÑÜ§"),
        (b"\x7b\x7c\x7d\x7e\x7f", "äöñüà"),
        (b"\x1b\x65", "€"),
        (b"\x1b\x3c\x1b\x3e", "[]"),
        (b"\x1b\x28\x1b\x29", "{}"),
        (b"\x1b\x2f\x1b\x14\x1b\x3d\x1b\x40", "\\^~|"),
        (b"\x1b\x0a", "\f"),
        (b"a\x0d\x0ab", "a\r\nb"),
    ],
)
def test_gsm_default_alphabet_and_extension_table(octets: bytes, expected: str) -> None:
    assert text_of(decode_text(octets, 0)) == expected


def test_gsm_escape_to_undefined_extension_shows_basic_character() -> None:
    result = decode_text(b"\x1bA", 0)
    assert isinstance(result, Decoded)
    assert result.text == "A"
    assert result.notes


def test_gsm_trailing_escape_is_dropped_with_a_note() -> None:
    result = decode_text(b"VIETA\x1b", 0)
    assert isinstance(result, Decoded)
    assert result.text == "VIETA"
    assert result.notes == ("trailing ESC dropped",)


def test_gsm_double_escape_is_a_space() -> None:
    assert text_of(decode_text(b"A\x1b\x1bB", 0)) == "A B"


@pytest.mark.parametrize("octets", [b"\x80", b"VIETA\xff", b"\x1b\x80"])
def test_gsm_octet_with_high_bit_is_not_gsm(octets: bytes) -> None:
    result = decode_text(octets, 0)
    assert isinstance(result, DecodeError)
    assert result.reason == "not_gsm"


@pytest.mark.parametrize(
    ("octets", "data_coding", "expected"),
    [
        (b"AUTO stop", 1, "AUTO stop"),
        (b"Sadarb\xedba", 3, "Sadarbíba"),
        (b"\xe9", 3, "é"),
        (b"\xb2\xd0", 6, "Ва"),  # ISO-8859-5
        ("Sadarbība".encode("utf-16-be"), 8, "Sadarbība"),
        ("VIETA".encode("utf-16-be"), 8, "VIETA"),
        ("😀 JAUNUMI".encode("utf-16-be"), 8, "😀 JAUNUMI"),  # surrogate pair
        (b"", 8, ""),
        (b"", 0, ""),
    ],
)
def test_other_alphabets(octets: bytes, data_coding: int, expected: str) -> None:
    assert text_of(decode_text(octets, data_coding)) == expected


@pytest.mark.parametrize(
    ("octets", "data_coding", "reason"),
    [
        (b"\x01\x02", 2, "binary"),
        (b"\x01\x02", 4, "binary"),
        (b"VIETA", 0xF4, "binary"),  # TS 23.038 data coding/message class, 8-bit
        (b"VIETA", 0x14, "binary"),  # general data coding, 8-bit
        (b"VIETA", 0x24, "compressed"),
        (b"VIETA", 0x05, "unsupported"),  # JIS
        (b"VIETA", 0x0E, "unsupported"),  # KS C 5601
        (b"VIETA", 0x0C, "unsupported"),  # reserved
        (b"VIETA", 0x1C, "unsupported"),  # general data coding, reserved alphabet
        (b"VIETA", 0x80, "unsupported"),  # reserved group
        (b"VIETA", 0xBF, "unsupported"),
        (b"VIETA", 256, "unsupported"),
        (b"VIETA", -1, "unsupported"),
        (b"\x00V\x00", 8, "ucs2_odd_length"),
        (b"\xd8\x3d\x00A", 8, "ucs2_lone_surrogate"),  # high surrogate without its low half
        (b"\xde\x00", 8, "ucs2_lone_surrogate"),  # a low surrogate alone
        (b"\xd8\x3d", 8, "ucs2_lone_surrogate"),  # truncated pair
        (b"\xe9", 1, "not_ascii"),
        (b"\xc0", 7, "unsupported"),  # undefined in ISO-8859-8
    ],
)
def test_unreadable_texts_are_error_values(octets: bytes, data_coding: int, reason: str) -> None:
    result = decode_text(octets, data_coding)
    assert isinstance(result, DecodeError), result
    assert result.reason == reason
    assert result.data_coding == data_coding


@pytest.mark.parametrize(
    ("data_coding", "octets", "expected"),
    [
        (0x11, b"VIETA", "VIETA"),  # general data coding, class 1, GSM
        (0xF0, b"VIETA", "VIETA"),  # data coding/message class 0, GSM
        (0xC0, b"VIETA", "VIETA"),  # message waiting, discard
        (0xD8, b"VIETA", "VIETA"),  # message waiting, store
        (0x18, "Vieta".encode("utf-16-be"), "Vieta"),  # general data coding, UCS2
        (0xE0, "Vieta".encode("utf-16-be"), "Vieta"),  # message waiting, UCS2
        (0x48, "Vieta".encode("utf-16-be"), "Vieta"),  # automatic deletion group, UCS2
    ],
)
def test_gsm_data_coding_schemes_are_read_with_a_note(data_coding: int, octets: bytes, expected: str) -> None:
    result = decode_text(octets, data_coding)
    assert isinstance(result, Decoded)
    assert result.text == expected
    assert result.data_coding == data_coding
    assert any("read as" in note for note in result.notes)


def test_message_payload_replaces_short_message() -> None:
    result = decode_text(b"", 0, message_payload=b"SADARBIBA STOP")
    assert text_of(result) == "SADARBIBA STOP"
    assert text_of(decode_text(b"ignored", 0, message_payload=b"")) == ""


def test_udh_with_8bit_concat_is_stripped_and_parsed() -> None:
    udh = bytes([5, 0x00, 3, 0x2A, 2, 1])
    result = decode_text(udh + b"VIETA", 0, esm_class=0x40)
    assert isinstance(result, Decoded)
    assert result.text == "VIETA"
    assert result.concat == Concat(ref=0x2A, total=2, seq=1)


def test_udh_with_16bit_concat_is_stripped_and_parsed() -> None:
    udh = bytes([6, 0x08, 4, 0x12, 0x34, 3, 2])
    result = decode_text(udh + "ī".encode("utf-16-be"), 8, esm_class=0x43)
    assert isinstance(result, Decoded)
    assert result.text == "ī"
    assert result.concat == Concat(ref=0x1234, total=3, seq=2, ref_bits=16)


def test_udh_in_message_payload() -> None:
    udh = bytes([5, 0x00, 3, 7, 2, 2])
    result = decode_text(b"", 0, esm_class=0x40, message_payload=udh + b"STOP")
    assert isinstance(result, Decoded)
    assert (result.text, result.concat) == ("STOP", Concat(7, 2, 2))


def test_udh_without_concat_ie_is_stripped() -> None:
    udh = bytes([4, 0x0A, 2, 0, 0])  # a text-formatting IE only
    result = decode_text(udh + b"AUTO", 0, esm_class=0x40)
    assert isinstance(result, Decoded)
    assert (result.text, result.concat) == ("AUTO", None)


def test_concat_ie_with_zero_or_out_of_range_numbers_is_ignored() -> None:
    for total, seq in ((0, 1), (2, 0), (2, 3)):
        udh = bytes([5, 0x00, 3, 9, total, seq])
        result = decode_text(udh + b"AUTO", 0, esm_class=0x40)
        assert isinstance(result, Decoded)
        assert (result.text, result.concat) == ("AUTO", None)


def test_without_udhi_a_udh_like_start_is_text() -> None:
    result = decode_text(bytes([5, 0, 3, 1, 2, 1]) + b"A", 0)
    assert isinstance(result, Decoded)
    assert result.concat is None
    assert len(result.text) == 7


@pytest.mark.parametrize(
    "octets",
    [
        b"",  # UDHI but nothing at all
        bytes([9, 0, 3, 1, 2, 1]),  # UDHL beyond the message
        bytes([1, 0x00]),  # IE header truncated
        bytes([4, 0x00, 3, 1, 2]),  # IE data overruns the UDH
    ],
)
def test_malformed_udh_is_an_error_value(octets: bytes) -> None:
    result = decode_text(octets, 0, esm_class=0x40)
    assert isinstance(result, DecodeError)
    assert result.reason == "bad_udh"


def test_national_language_shift_table_is_refused_for_gsm() -> None:
    udh = bytes([3, 0x25, 1, 0x01])  # locking shift, Turkish
    result = decode_text(udh + b"VIETA", 0, esm_class=0x40)
    assert isinstance(result, DecodeError)
    assert result.reason == "national_language_table"


def test_parse_udh_returns_the_ies_seen() -> None:
    split = parse_udh(bytes([8, 0x00, 3, 1, 2, 1, 0x24, 1, 1]) + b"x")
    assert split == (b"x", Concat(1, 2, 1), frozenset({0x00, 0x24}))


def test_gsm_table_is_a_bijection_on_its_characters() -> None:
    chars = [
        ch for code in range(128) if code != gsm0338.ESC for ch in gsm0338.decode_unpacked(bytes([code]))[0]
    ]
    assert len(set(chars)) == 127
    for ch in chars:
        assert gsm0338.septets(ch) == 1
        assert gsm0338.decode_unpacked(gsm0338.encode_unpacked(ch))[0] == ch
    for ch in "€[]{}\\^~|\f":
        assert gsm0338.septets(ch) == 2
    assert gsm0338.septets("ā") is None
    assert not gsm0338.is_gsm("Sadarbība")


@settings(max_examples=1000)
@given(
    short_message=st.binary(max_size=300),
    data_coding=st.integers(0, 255),
    esm_class=st.integers(0, 255),
    payload=st.none() | st.binary(max_size=300),
)
def test_decode_text_never_raises(
    short_message: bytes, data_coding: int, esm_class: int, payload: bytes | None
) -> None:
    result = decode_text(short_message, data_coding, esm_class=esm_class, message_payload=payload)
    assert isinstance(result, Decoded | DecodeError)
    if isinstance(result, Decoded):
        assert result.data_coding == data_coding
        assert isinstance(result.text, str)
        # The text is valid Unicode: it can always be stored and logged.
        result.text.encode("utf-8")


@given(
    udh_body=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=6)), max_size=4),
    text=st.binary(max_size=40).map(lambda b: bytes(x & 0x7F for x in b)),
)
def test_decode_text_never_raises_on_well_formed_udh(udh_body: list[tuple[int, bytes]], text: bytes) -> None:
    header = b"".join(bytes([iei, len(data)]) + data for iei, data in udh_body)
    octets = bytes([len(header)]) + header + text
    result = decode_text(octets, 0, esm_class=0x40)
    if isinstance(result, Decoded):
        assert len(result.text) <= len(text)
    else:
        assert result.reason in {"national_language_table"}
