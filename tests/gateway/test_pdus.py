"""The gateway's own deliver_sm / submit_sm_resp decoder, checked against smpplib as peer."""

from __future__ import annotations

import struct

import pytest
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import pdus


class _Seq:
    sequence = 0

    def next_sequence(self) -> int:
        return 0


def smpplib_deliver_sm(seq: int, **fields: object) -> bytes:
    pdu = smpplib.smpp.make_pdu("deliver_sm", client=_Seq(), **fields)
    pdu.sequence = seq
    return bytes(pdu.generate())


digits = st.text(alphabet="0123456789", min_size=0, max_size=20)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(1, 0x7FFFFFFF), ton=st.integers(0, 6), npi=st.integers(0, 18),
       source=digits, dest=digits, esm=st.integers(0, 255), coding=st.integers(0, 255),
       body=st.binary(max_size=254), payload=st.none() | st.binary(min_size=1, max_size=2000))
def test_decoder_agrees_with_smpplib(seq: int, ton: int, npi: int, source: str, dest: str,
                                     esm: int, coding: int, body: bytes,
                                     payload: bytes | None) -> None:
    fields: dict[str, object] = dict(
        source_addr_ton=ton, source_addr_npi=npi, source_addr=source, dest_addr_ton=1,
        dest_addr_npi=1, destination_addr=dest, esm_class=esm, data_coding=coding,
        short_message=b"" if payload else body)
    frame = smpplib_deliver_sm(seq, **fields)
    if payload:
        tlv = struct.pack(">HH", pdus.TAG_MESSAGE_PAYLOAD, len(payload)) + payload
        frame = struct.pack(">L", len(frame) + len(tlv)) + frame[4:] + tlv
    ours = pdus.parse(frame)
    theirs = smpplib.smpp.parse_pdu(frame, client=_Seq(), allow_unknown_opt_params=True)
    assert ours.sequence == seq
    assert (ours.source_addr_ton, ours.source_addr_npi) == (ton, npi)
    assert ours.source_addr == (theirs.source_addr or b"")
    assert ours.destination_addr == (theirs.destination_addr or b"")
    assert (ours.esm_class, ours.data_coding) == (theirs.esm_class, theirs.data_coding)
    assert ours.short_message == (theirs.short_message or b"")
    assert ours.message_payload == (payload or None)


def test_receipt_tlvs_are_read() -> None:
    frame = smpplib_deliver_sm(7, source_addr="37129123456", destination_addr="29307777",
                               esm_class=0x04, short_message=b"id:abc stat:DELIVRD")
    tlvs = (struct.pack(">HH", pdus.TAG_RECEIPTED_MESSAGE_ID, 4) + b"abc\x00"
            + struct.pack(">HHB", pdus.TAG_MESSAGE_STATE, 1, 2)
            + struct.pack(">HH", 0x1403, 2) + b"zz")  # a vendor TLV we ignore
    frame = struct.pack(">L", len(frame) + len(tlvs)) + frame[4:] + tlvs
    pdu = pdus.parse(frame)
    assert pdu.receipted_message_id == b"abc" and pdu.message_state == 2


@pytest.mark.parametrize("cut", [17, 20, 30, 40, 45])
def test_truncated_deliver_sm_is_invalid_length_never_a_text(cut: int) -> None:
    frame = smpplib_deliver_sm(9, source_addr="37129123456", destination_addr="29307777",
                               short_message=b"VIETA")
    short = struct.pack(">L", cut) + frame[4:cut]
    with pytest.raises(pdus.PduError) as err:
        pdus.parse(short)
    assert err.value.status == pdus.ESME_RINVCMDLEN


def test_tlv_longer_than_the_pdu_is_invalid_length() -> None:
    frame = smpplib_deliver_sm(9, source_addr="37129123456", destination_addr="29307777",
                               short_message=b"")
    tlv = struct.pack(">HH", pdus.TAG_MESSAGE_PAYLOAD, 500) + b"x" * 10
    frame = struct.pack(">L", len(frame) + len(tlv)) + frame[4:] + tlv
    with pytest.raises(pdus.PduError):
        pdus.parse(frame)


def test_submit_sm_resp_message_id() -> None:
    resp = smpplib.smpp.make_pdu("submit_sm_resp", client=_Seq(), message_id="ab12")
    resp.sequence = 5
    parsed = pdus.parse(bytes(resp.generate()))
    assert parsed.sequence == 5 and parsed.message_id == b"ab12"
