"""The whole pure chain as the gateway and worker use it: decode → parse → eligibility → decide
→ reply, on SPEC §4's examples and on arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core.catalog import Catalog, load_catalog
from consent_core.decide import decide
from consent_core.decode import Decoded, DecodeError, decode_text
from consent_core.eligibility import Subscriber, eligibility
from consent_core.encode import Part, encode_sms
from consent_core.model import (
    CONSENTS,
    REPLIED,
    Eligibility,
    Give,
    Outcome,
    Status,
    Unknown,
    Withdraw,
)
from consent_core.parse import parse

CATALOG = load_catalog()
LMT = Subscriber("37129123456", "lmt")
OTHER = Subscriber("37126000000", "other")


def understand(
    octets: bytes,
    data_coding: int,
    esm_class: int = 0,
    payload: bytes | None = None,
    catalog: Catalog = CATALOG,
) -> Give | Withdraw | Unknown:
    decoded = decode_text(octets, data_coding, esm_class=esm_class, message_payload=payload)
    if isinstance(decoded, DecodeError):
        return Unknown("")
    return parse(decoded.text, catalog.keywords)


@pytest.mark.parametrize(
    ("octets", "data_coding", "expected"),
    [
        (b"jaunumi", 0, Give("JAUNUMI")),
        (b" Jaunumi  stop ", 0, Withdraw("JAUNUMI")),
        (b"VIETA STOP!", 0, Withdraw("VIETA")),
        ("Sadarbība".encode("utf-16-be"), 8, Give("SADARBIBA")),
        ("VIETA STOP".encode("utf-16-be"), 8, Withdraw("VIETA")),
        ("Sadarbība stop.".encode("utf-16-be"), 8, Withdraw("SADARBIBA")),
        ("Sadarbiba".encode("latin-1"), 3, Give("SADARBIBA")),
        ("Jaunumí".encode("latin-1"), 3, Give("JAUNUMI")),
        (b"AUTO", 1, Give("AUTO")),
        (b"Metadati\x1b\x65", 0, Unknown("Metadati€")),
    ],
)
def test_spec_examples_are_understood(
    octets: bytes, data_coding: int, expected: Give | Withdraw | Unknown
) -> None:
    assert understand(octets, data_coding) == expected


def test_a_long_text_in_message_payload_is_understood() -> None:
    assert understand(b"", 8, payload="  VIETA STOP  ".encode("utf-16-be")) == Withdraw("VIETA")


def test_spec_section4_conversation() -> None:
    """VIETA from LMT: given; VIETA STOP: withdrawn; again: already withdrawn; a non-LMT
    number: refused for VIETA, given for JAUNUMI."""
    status = Status.NONE
    outcomes = []
    for text in ("VIETA", "VIETA STOP", "VIETA STOP"):
        command = parse(text)
        assert not isinstance(command, Unknown)
        outcome = decide(status, _action(command), eligibility(LMT, command.consent, CATALOG))
        outcomes.append(outcome)
        status = (
            Status.GIVEN
            if outcome is Outcome.GIVEN
            else (Status.WITHDRAWN if outcome is Outcome.WITHDRAWN else status)
        )
    assert outcomes == [Outcome.GIVEN, Outcome.WITHDRAWN, Outcome.ALREADY_WITHDRAWN]
    assert decide(Status.NONE, "give", eligibility(OTHER, "VIETA", CATALOG)) is (
        Outcome.REFUSED_NOT_LMT_CLIENT
    )
    assert decide(Status.NONE, "give", eligibility(OTHER, "JAUNUMI", CATALOG)) is Outcome.GIVEN
    assert "tikai LMT klienti" in CATALOG.reply(Outcome.REFUSED_NOT_LMT_CLIENT, "VIETA")


def _action(command: Give | Withdraw) -> str:
    return "give" if isinstance(command, Give) else "withdraw"


subscribers = st.one_of(
    st.none(),
    st.builds(
        Subscriber,
        msisdn=st.just("37129123456"),
        client_group=st.sampled_from(["lmt", "other"]),
        independent=st.booleans(),
    ),
)


@settings(max_examples=500)
@given(
    octets=st.binary(max_size=200),
    data_coding=st.integers(0, 255),
    esm_class=st.integers(0, 255),
    payload=st.none() | st.binary(max_size=200),
    subscriber=subscribers,
    status=st.sampled_from(list(Status)),
)
def test_chain_never_raises_and_always_has_a_reply(
    octets: bytes,
    data_coding: int,
    esm_class: int,
    payload: bytes | None,
    subscriber: Subscriber | None,
    status: Status,
) -> None:
    decoded = decode_text(octets, data_coding, esm_class=esm_class, message_payload=payload)
    assert isinstance(decoded, Decoded | DecodeError)
    command = parse(decoded.text) if isinstance(decoded, Decoded) else Unknown("")
    if isinstance(command, Unknown):
        outcome = Outcome.UNKNOWN_COMMAND
        reply = CATALOG.reply(outcome, None)
    else:
        allowed = eligibility(subscriber, command.consent, CATALOG)
        assert isinstance(allowed, Eligibility)
        outcome = decide(status, _action(command), allowed)
        reply = CATALOG.reply(outcome, command.consent)
        if isinstance(command, Withdraw):
            # Withdrawal is never refused (ePrivacy Art. 6(3): withdrawable at any time).
            assert outcome in (Outcome.WITHDRAWN, Outcome.ALREADY_WITHDRAWN)
    assert outcome in REPLIED
    assert 1 <= len(encode_sms(reply, ref=0)) <= 3


@settings(max_examples=300)
@given(
    keyword=st.sampled_from(CONSENTS),
    withdraw=st.booleans(),
    lead=st.sampled_from(["", " ", "  "]),
    tail=st.sampled_from(["", ".", "!", " ?", "  "]),
    latvian=st.booleans(),
    ucs2=st.booleans(),
)
def test_commands_survive_the_air_interface(
    keyword: str, withdraw: bool, lead: str, tail: str, latvian: bool, ucs2: bool
) -> None:
    """A command written on a phone, encoded as a phone would (GSM or UCS2, possibly with
    Latvian letters), decoded and parsed, is the command that was meant."""
    word = keyword.replace("I", "Ī") if latvian else keyword.lower()
    if tail == " ?" and not withdraw:  # "VIETA ?" asks what VIETA is: never a give
        tail = " "
    text = lead + word + (" stop" if withdraw else "") + tail
    parts = encode_sms(text, ref=1) if not ucs2 else [Part(8, 0, text.encode("utf-16-be"))]
    (part,) = parts
    assert understand(part.short_message, part.data_coding) == (
        Withdraw(keyword) if withdraw else Give(keyword)
    )
