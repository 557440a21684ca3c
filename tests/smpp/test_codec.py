"""The one codec, checked against smpplib (an independent implementation) both ways:
examples and hypothesis round trips."""

from __future__ import annotations

import struct

import pytest
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp import codec
from smpp import codec as pdu
from smpp import constants as c


class _Seq:
    sequence = 7

    def next_sequence(self) -> int:
        return 7


def smpplib_bytes(command: str, **fields: object) -> bytes:
    p = smpplib.smpp.make_pdu(command, client=_Seq(), **fields)
    p.sequence = 7
    return bytes(p.generate())


def test_decodes_smpplib_bind_transceiver() -> None:
    frame = smpplib_bytes("bind_transceiver", system_id="consentgw", password="secret")
    p = pdu.decode(frame)
    assert p.command_id == c.BIND_TRANSCEIVER
    assert p.sequence == 7
    assert p.params["system_id"] == "consentgw"
    assert p.params["password"] == "secret"
    assert p.params["interface_version"] == 0x34


def test_decodes_smpplib_submit_sm_with_tlv() -> None:
    frame = smpplib_bytes(
        "submit_sm", source_addr="29307777", destination_addr="37129123456", dest_addr_ton=1,
        short_message=b"Paldies", registered_delivery=1, data_coding=0,
        user_message_reference=5)
    p = pdu.decode(frame)
    assert p.params["destination_addr"] == "37129123456"
    assert p.params["short_message"] == b"Paldies"
    assert p.params["registered_delivery"] == 1
    assert p.tlvs[0x0204] == b"\x00\x05"  # user_message_reference


def test_deliver_sm_we_encode_is_parsed_by_smpplib() -> None:
    tlvs = pdu.encode_tlvs({c.TAG_RECEIPTED_MESSAGE_ID: b"abc\x00",
                            c.TAG_MESSAGE_STATE: b"\x02"})
    frame = pdu.encode_deliver_sm(9, "37129123456", 1, 1, "29307777", 4, 0, b"id:abc", tlvs)
    parsed = smpplib.smpp.parse_pdu(frame, client=_Seq(), allow_unknown_opt_params=True)
    assert parsed.command == "deliver_sm"
    assert parsed.sequence == 9
    assert parsed.source_addr == b"37129123456"
    assert parsed.source_addr_ton == 1
    assert parsed.destination_addr == b"29307777"
    assert parsed.esm_class == 4
    assert parsed.short_message == b"id:abc"
    assert parsed.receipted_message_id == b"abc"
    assert parsed.message_state == 2


def test_encode_decode_round_trip_bind_resp_with_tlv() -> None:
    original = pdu.Pdu(c.BIND_TRANSCEIVER_RESP, 0, 3, {"system_id": "smsc-sim"},
                       {c.TAG_SC_INTERFACE_VERSION: b"\x34"})
    assert pdu.decode(pdu.encode(original)) == original


def test_error_response_may_omit_body() -> None:
    frame = pdu.encode(pdu.Pdu(c.SUBMIT_SM_RESP, c.ESME_RTHROTTLED, 4))
    assert len(frame) == 16
    assert pdu.decode(frame).status == c.ESME_RTHROTTLED


@pytest.mark.parametrize(("frame", "status"), [
    (struct.pack(">IIII", 16, 0x000000FF, 0, 1), c.ESME_RINVCMDID),
    (struct.pack(">IIII", 20, c.SUBMIT_SM, 0, 1) + b"\x00\x01\x01\x00", c.ESME_RINVCMDLEN),
    (struct.pack(">IIII", 20, c.ENQUIRE_LINK, 0, 1) + b"\x00\x01\x01\x00", c.ESME_RINVCMDLEN),
    (struct.pack(">IIII", 17, c.ENQUIRE_LINK, 0, 1) + b"\x00", c.ESME_RINVCMDLEN),
    (struct.pack(">IIII", 24, c.BIND_TRANSMITTER, 0, 1) + b"x" * 8, c.ESME_RINVCMDLEN),
])
def test_bad_bodies_carry_the_status_to_answer_with(frame: bytes, status: int) -> None:
    with pytest.raises(pdu.PduError) as err:
        pdu.decode(frame)
    assert err.value.status == status
    assert err.value.sequence == 1


def test_frame_reader_splits_and_joins_across_reads() -> None:
    a = pdu.encode_header_only(c.ENQUIRE_LINK, 0, 1)
    b = smpplib_bytes("submit_sm", source_addr="1", destination_addr="2", short_message=b"x")
    reader = pdu.FrameReader()
    stream = a + b
    got = [f for chunk in (stream[:5], stream[5:20], stream[20:]) for f in reader.feed(chunk)]
    assert got == [a, b]


@pytest.mark.parametrize("length", [0, 8, 15, 0xFFFFFFFF])
def test_frame_reader_refuses_impossible_lengths(length: int) -> None:
    reader = pdu.FrameReader()
    with pytest.raises(pdu.FramingError) as err:
        list(reader.feed(struct.pack(">IIII", length, c.DELIVER_SM, 0, 5)))
    assert err.value.status == c.ESME_RINVCMDLEN
    assert err.value.sequence == 5


# --- hypothesis: both ways against smpplib ------------------------------------------------
class _Zero:
    sequence = 0

    def next_sequence(self) -> int:
        return 0


digits = st.text(alphabet="0123456789", min_size=0, max_size=20)
sm_fields = dict(seq=st.integers(1, 0x7FFFFFFF), ton=st.integers(0, 6), npi=st.integers(0, 18),
                 source=digits, dest=digits, esm=st.integers(0, 255), coding=st.integers(0, 255),
                 body=st.binary(max_size=254), rd=st.integers(0, 3),
                 payload=st.none() | st.binary(min_size=1, max_size=2000),
                 vendor=st.none() | st.binary(max_size=20))


@settings(max_examples=200, deadline=None)
@given(command=st.sampled_from(["deliver_sm", "submit_sm"]), **sm_fields)
def test_smpplib_encoded_sm_decodes_the_same(command: str, seq: int, ton: int, npi: int,
                                             source: str, dest: str, esm: int, coding: int,
                                             body: bytes, rd: int, payload: bytes | None,
                                             vendor: bytes | None) -> None:
    p = smpplib.smpp.make_pdu(command, client=_Zero(), source_addr_ton=ton,
                              source_addr_npi=npi, source_addr=source, dest_addr_ton=1,
                              dest_addr_npi=1, destination_addr=dest, esm_class=esm,
                              data_coding=coding, registered_delivery=rd,
                              short_message=b"" if payload else body)
    p.sequence = seq
    frame = bytes(p.generate())
    tlvs = {}
    if payload:
        tlvs[c.TAG_MESSAGE_PAYLOAD] = payload
    if vendor is not None:
        tlvs[0x1403] = vendor  # a vendor TLV nobody here knows: kept raw
    extra = codec.encode_tlvs(tlvs)
    frame = struct.pack(">I", len(frame) + len(extra)) + frame[4:] + extra
    fast = codec.decode_sm(frame)
    slow = codec.decode(frame)
    theirs = smpplib.smpp.parse_pdu(frame, client=_Zero(), allow_unknown_opt_params=True)
    assert fast.sequence == slow.sequence == seq
    assert fast.source_addr == slow.params["source_addr"] == (theirs.source_addr or b"").decode()
    assert fast.destination_addr == (theirs.destination_addr or b"").decode()
    assert (fast.source_addr_ton, fast.source_addr_npi) == (ton, npi)
    assert (fast.esm_class, fast.data_coding) == (theirs.esm_class, theirs.data_coding)
    assert fast.registered_delivery == slow.params["registered_delivery"] == rd
    assert fast.short_message == slow.params["short_message"] == (theirs.short_message or b"")
    assert fast.tlvs == slow.tlvs == tlvs
    assert fast.message_payload == (payload or None)


@settings(max_examples=200, deadline=None)
@given(command=st.sampled_from([c.DELIVER_SM, c.SUBMIT_SM]), **sm_fields)
def test_our_sm_fast_path_is_read_the_same_by_smpplib(
        command: int, seq: int, ton: int, npi: int, source: str, dest: str, esm: int,
        coding: int, body: bytes, rd: int, payload: bytes | None, vendor: bytes | None) -> None:
    tlvs = codec.encode_tlvs({c.TAG_MESSAGE_PAYLOAD: payload} if payload else {})
    enc = codec.encode_deliver_sm if command == c.DELIVER_SM else None
    if enc is not None:
        frame = enc(seq, source, ton, npi, dest, esm, coding, body, tlvs, rd, 1, 1)
    else:
        frame = codec.encode_submit_sm(seq, source, ton, npi, dest, 1, 1, esm, coding, body,
                                       tlvs=tlvs, registered_delivery=rd)
    theirs = smpplib.smpp.parse_pdu(frame, client=_Zero(), allow_unknown_opt_params=True)
    assert theirs.command == c.command_name(command) and theirs.sequence == seq
    assert (theirs.source_addr or b"") == source.encode()
    assert (theirs.destination_addr or b"") == dest.encode()
    assert (theirs.source_addr_ton, theirs.source_addr_npi, theirs.dest_addr_ton) == (ton, npi, 1)
    assert (theirs.esm_class, theirs.data_coding) == (esm, coding)
    assert theirs.registered_delivery == rd
    assert (theirs.short_message or b"") == body
    if payload:
        assert theirs.message_payload == payload
    # And the generic encoder makes the same octets as the fast path.
    slow = codec.encode(codec.decode(frame))
    assert slow == frame


@settings(max_examples=100, deadline=None)
@given(seq=st.integers(1, 0x7FFFFFFF), status=st.integers(0, 0xFF),
       mid=st.text(alphabet="0123456789abcdef", max_size=64))
def test_sm_resp_both_ways(seq: int, status: int, mid: str) -> None:
    frame = codec.encode_sm_resp(c.SUBMIT_SM_RESP, status, seq, mid)
    theirs = smpplib.smpp.parse_pdu(frame, client=_Zero())
    assert (theirs.sequence, theirs.status) == (seq, status)
    if status == 0:
        assert (theirs.message_id or b"") == mid.encode()
    p = smpplib.smpp.make_pdu("submit_sm_resp", client=_Zero(), message_id=mid)
    p.sequence = seq
    assert codec.decode_sm_resp(bytes(p.generate())) == (0, seq, mid)


@pytest.mark.parametrize("cut", [17, 20, 30, 40, 45])
def test_truncated_deliver_sm_is_invalid_command_length_never_a_text(cut: int) -> None:
    frame = codec.encode_deliver_sm(9, "37129123456", 1, 1, "29307777", 0, 0, b"VIETA")
    short = struct.pack(">I", cut) + frame[4:cut]
    for decoder in (codec.decode_sm, codec.decode):
        with pytest.raises(codec.PduError) as err:
            decoder(short)
        assert err.value.status == c.ESME_RINVCMDLEN, (cut, decoder)


def test_tlv_longer_than_the_pdu_is_an_optional_parameter_error() -> None:
    frame = codec.encode_deliver_sm(9, "37129123456", 1, 1, "29307777", 0, 0, b"",
                                    struct.pack(">HH", c.TAG_MESSAGE_PAYLOAD, 500) + b"x" * 10)
    with pytest.raises(codec.PduError) as err:
        codec.decode_sm(frame)
    assert err.value.status == c.ESME_RINVOPTPARSTREAM


def test_statuses_are_smpplibs_numbers() -> None:
    import smpplib.consts as sc

    for value, name in c.STATUS_NAMES.items():
        theirs = getattr(sc, "SMPP_" + name, None)
        if theirs is not None:
            assert theirs == value, name
    assert c.COMMAND_IDS["deliver_sm"] == smpplib.command_codes.commands["deliver_sm"]
