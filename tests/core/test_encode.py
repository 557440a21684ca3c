"""encode_sms: alphabet choice, part sizes, UDH, never splitting a pair; round trip via decode."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core import gsm0338
from consent_core.concat import Reassembler
from consent_core.decode import Decoded, decode_text
from consent_core.encode import Part, encode_sms


def reassemble(parts: list[Part]) -> str:
    """Decode every part and join them the way the gateway would."""
    reassembler = Reassembler()
    whole: str | None = None
    for part in parts:
        result = decode_text(part.short_message, part.data_coding, esm_class=part.esm_class)
        assert isinstance(result, Decoded), result
        if result.concat is None:
            assert len(parts) == 1
            return result.text
        whole = reassembler.add("37129123456", result.concat, result.text, now=0.0)
    assert whole is not None
    return whole


@pytest.mark.parametrize(
    ("text", "data_coding"),
    [
        ("VIETA STOP", 0),
        ("Price 5€ [ok] {x} ~|^\\", 0),
        ("Piekrišana VIETA saņemta.", 8),
        ("ç", 8),  # small c-cedilla is not in the default alphabet
        ("😀", 8),
        ("", 0),
    ],
)
def test_single_part_alphabet_choice(text: str, data_coding: int) -> None:
    parts = encode_sms(text, ref=1)
    assert len(parts) == 1
    assert parts[0].data_coding == data_coding
    assert parts[0].esm_class == 0
    assert reassemble(parts) == text


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),
        ("ā" * 70, 1),
        ("ā" * 71, 2),
        ("ā" * 134, 2),
        ("ā" * 135, 3),
        ("😀" * 35, 1),  # 70 code units
        ("😀" * 36, 2),
    ],
)
def test_part_counts_at_the_limits(text: str, parts: int) -> None:
    assert len(encode_sms(text, ref=0)) == parts


def test_concatenated_parts_carry_8bit_concat_udh() -> None:
    parts = encode_sms("b" * 200, ref=0x1A7)  # the reference is taken modulo 256
    assert [p.esm_class for p in parts] == [0x40, 0x40]
    assert [p.short_message[:6] for p in parts] == [
        bytes([5, 0, 3, 0xA7, 2, 1]),
        bytes([5, 0, 3, 0xA7, 2, 2]),
    ]
    assert len(parts[0].short_message) == 6 + 153
    assert reassemble(parts) == "b" * 200


def test_escape_pair_is_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 20  # the € would straddle septets 153/154
    parts = encode_sms(text, ref=5)
    assert len(parts) == 2
    first = parts[0].short_message[6:]
    assert first == b"a" * 152  # the pair moved whole to part 2
    assert parts[1].short_message[6:8] == b"\x1b\x65"
    assert reassemble(parts) == text


def test_surrogate_pair_is_never_split() -> None:
    text = "ā" * 66 + "😀" + "ā" * 10  # the emoji would straddle code units 67/68
    parts = encode_sms(text, ref=5)
    assert len(parts) == 2
    assert parts[0].short_message[6:] == "ā".encode("utf-16-be") * 66
    assert parts[1].short_message[6:10] == "😀".encode("utf-16-be")
    assert reassemble(parts) == text


def test_lone_surrogate_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid Unicode"):
        encode_sms("\ud800", ref=1)


def test_too_long_for_255_parts_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="more than 255"):
        encode_sms("a" * (153 * 255 + 1), ref=1)
    assert len(encode_sms("a" * (153 * 255), ref=1)) == 255


@settings(max_examples=300)
@given(text=st.text(max_size=400), ref=st.integers(0, 10_000))
def test_encode_then_decode_round_trips(text: str, ref: int) -> None:
    parts = encode_sms(text, ref=ref)
    for part in parts:
        limit = 160 if part.data_coding == 0 else 140  # septets unpacked / UCS2 octets
        udh = 6 if part.esm_class else 0
        assert len(part.short_message) <= udh + limit
        assert part.data_coding == (0 if gsm0338.is_gsm(text) else 8)
    assert reassemble(parts) == text


@given(text=st.text(alphabet=st.sampled_from("ab€[]{}"), max_size=500))
def test_gsm_parts_fit_153_septets(text: str) -> None:
    parts = encode_sms(text, ref=3)
    if len(parts) > 1:
        assert all(len(p.short_message) - 6 <= 153 for p in parts)
        assert all(not p.short_message.endswith(b"\x1b") for p in parts)
    assert reassemble(parts) == text
