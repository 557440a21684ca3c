"""Text encoding of MOs and decoding of MTs."""

from __future__ import annotations

import pytest
import smpplib.gsm

from smsc_sim import text


@pytest.mark.parametrize(("message", "coding"), [
    ("VIETA", 0),
    ("jaunumi stop", 0),
    ("Price: 5€ {ok}", 0),  # extension table
    ("Sadarbība", 8),  # Latvian letters are not in GSM 03.38
    ("😀", 8),
])
def test_coding_is_chosen_by_content(message: str, coding: int) -> None:
    chosen, octets = text.encode_text(message)
    assert chosen == coding
    assert text.decode_text(chosen, octets) == message


def test_gsm_matches_smpplib_encoder() -> None:
    message = "Paldies! @£$ {VIETA} ~ € ÄÖÑÜ"
    assert text.gsm_encode(message) == smpplib.gsm.gsm_encode(message)


def test_forced_latin1_replaces_what_it_cannot_carry() -> None:
    assert text.encode_text("Ārā é", 3) == (3, b"?r? \xe9")


@pytest.mark.parametrize(("coding", "message", "parts"), [
    (0, "A" * 160, 1), (0, "A" * 161, 2), (0, "A" * 306, 2), (0, "A" * 307, 3),
    (8, "ā" * 70, 1), (8, "ā" * 71, 2), (3, "é" * 140, 1), (3, "é" * 141, 2),
])
def test_split_limits(coding: int, message: str, parts: int) -> None:
    _, octets = text.encode_text(message, coding)
    assert len(text.split_parts(coding, octets)) == parts


def test_split_never_cuts_escape_or_surrogate_pair() -> None:
    _, octets = text.encode_text("A" * 152 + "€" + "B" * 10)
    first, second = text.split_parts(0, octets)
    assert first == b"A" * 152 and second.startswith(b"\x1b\x65")
    _, octets = text.encode_text("ā" * 66 + "😀" + "ā" * 5)
    first, second = text.split_parts(8, octets)
    assert len(first) == 132 and second.startswith("😀".encode("utf-16-be"))


def test_udh_round_trip_both_reference_sizes() -> None:
    segment, payload = text.split_udh(text.udh_concat(42, 3, 2) + b"abc")
    assert segment == text.Segment(42, 3, 2) and payload == b"abc"
    segment, payload = text.split_udh(bytes((6, 8, 4, 1, 2, 3, 1)) + b"xyz")
    assert segment == text.Segment(258, 3, 1) and payload == b"xyz"
