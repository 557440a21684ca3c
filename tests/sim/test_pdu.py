"""The sans-I/O codec, checked against PDUs built by smpplib (an independent encoder)."""

from __future__ import annotations

import struct

import pytest
import smpplib.smpp

from smsc_sim import pdu


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
    assert p.command_id == pdu.BIND_TRANSCEIVER
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
    tlvs = pdu.encode_tlvs({pdu.TAG_RECEIPTED_MESSAGE_ID: b"abc\x00",
                            pdu.TAG_MESSAGE_STATE: b"\x02"})
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
    original = pdu.Pdu(pdu.BIND_TRANSCEIVER_RESP, 0, 3, {"system_id": "smsc-sim"},
                       {pdu.TAG_SC_INTERFACE_VERSION: b"\x34"})
    assert pdu.decode(pdu.encode(original)) == original


def test_error_response_may_omit_body() -> None:
    frame = pdu.encode(pdu.Pdu(pdu.SUBMIT_SM_RESP, pdu.ESME_RTHROTTLED, 4))
    assert len(frame) == 16
    assert pdu.decode(frame).status == pdu.ESME_RTHROTTLED


@pytest.mark.parametrize(("frame", "status"), [
    (struct.pack(">IIII", 16, 0x000000FF, 0, 1), pdu.ESME_RINVCMDID),
    (struct.pack(">IIII", 20, pdu.SUBMIT_SM, 0, 1) + b"\x00\x01\x01\x00", pdu.ESME_RINVMSGLEN),
    (struct.pack(">IIII", 17, pdu.ENQUIRE_LINK, 0, 1) + b"\x00", pdu.ESME_RINVCMDLEN),
    (struct.pack(">IIII", 24, pdu.BIND_TRANSMITTER, 0, 1) + b"x" * 8, pdu.ESME_RINVMSGLEN),
])
def test_bad_bodies_carry_the_status_to_answer_with(frame: bytes, status: int) -> None:
    with pytest.raises(pdu.PduError) as err:
        pdu.decode(frame)
    assert err.value.status == status
    assert err.value.sequence == 1


def test_frame_reader_splits_and_joins_across_reads() -> None:
    a = pdu.encode_header_only(pdu.ENQUIRE_LINK, 0, 1)
    b = smpplib_bytes("submit_sm", source_addr="1", destination_addr="2", short_message=b"x")
    reader = pdu.FrameReader()
    stream = a + b
    got = [f for chunk in (stream[:5], stream[5:20], stream[20:]) for f in reader.feed(chunk)]
    assert got == [a, b]


@pytest.mark.parametrize("length", [0, 8, 15, 0xFFFFFFFF])
def test_frame_reader_refuses_impossible_lengths(length: int) -> None:
    reader = pdu.FrameReader()
    with pytest.raises(pdu.FramingError) as err:
        list(reader.feed(struct.pack(">IIII", length, pdu.DELIVER_SM, 0, 5)))
    assert err.value.status == pdu.ESME_RINVCMDLEN
    assert err.value.sequence == 5
