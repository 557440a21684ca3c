"""The sans-I/O session driven with bytes and a fake ``now``: every state, unexpected PDUs,
every timeout. No socket anywhere."""

from __future__ import annotations

import struct

import pytest

from smpp import codec
from smpp import constants as c
from smpp.codec import Pdu
from smpp.session import (
    BindRefused,
    BindRequested,
    Bound,
    Deliver,
    ErrorKind,
    LinkDead,
    LocalProtocolError,
    ProtocolError,
    RequestFailed,
    Response,
    Role,
    Session,
    State,
    Submit,
    TimedOut,
    Unbound,
)


def frames(data: bytes) -> list[tuple[int, int, int]]:
    """(command_id, status, sequence) of every PDU in ``data``."""
    out = []
    for f in codec.FrameReader().feed(data):
        _l, cid, st, seq = codec.header(f)
        out.append((cid, st, seq))
    return out


def deliver(seq: int, text: bytes = b"VIETA", esm: int = 0, dest: str = "29307777") -> bytes:
    return codec.encode_deliver_sm(seq, "37129123456", 1, 1, dest, esm, 0, text)


def bound_esme(now: float = 0.0, window: int = 2) -> Session:
    s = Session(Role.ESME, window=window, response_timeout=5.0, enquire_link_interval=30.0,
                now=now)
    seq = s.bind("transceiver", "consentgw", "secret", now)
    s.data_to_send()
    resp = codec.encode(Pdu(c.BIND_TRANSCEIVER_RESP, 0, seq, {"system_id": "smsc"}))
    [ev] = s.receive_data(resp, now)
    assert ev == Bound(State.BOUND_TRX, "smsc")
    return s


def submit(s: Session, now: float, ctx: object = None) -> int:
    return s.send_request(c.SUBMIT_SM, lambda q: codec.encode_submit_sm(
        q, "29307777", 0, 1, "37129123456", 1, 1, 0, 0, b"Paldies"), now, context=ctx)


def test_bind_is_sent_and_accepted() -> None:
    s = Session(Role.ESME)
    seq = s.bind("receiver", "consentgw", "secret", 0.0)
    assert s.state is State.BINDING
    sent = codec.decode(s.data_to_send())
    assert (sent.command_id, sent.sequence) == (c.BIND_RECEIVER, seq)
    assert sent.params["system_id"] == "consentgw" and sent.params["interface_version"] == 0x34
    [ev] = s.receive_data(codec.encode_header_only(c.BIND_RECEIVER_RESP, 0, seq), 0.1)
    assert isinstance(ev, Bound) and s.state is State.BOUND_RX


def test_bind_refused_and_generic_nack_for_bind_is_a_refusal() -> None:
    s = Session(Role.ESME)
    seq = s.bind("transceiver", "x", "y", 0.0)
    assert s.receive_data(codec.encode_header_only(c.BIND_TRANSCEIVER_RESP,
                                                   c.ESME_RINVPASWD, seq), 0) == \
        [BindRefused(c.ESME_RINVPASWD)]
    assert s.state is State.OPEN
    s2 = Session(Role.ESME)
    seq = s2.bind("transceiver", "x", "y", 0.0)
    events = s2.receive_data(codec.generic_nack(seq, 0), 0)
    assert [type(e) for e in events] == [ProtocolError, BindRefused]
    assert not s2.bound  # hole 4: generic_nack(0) for the bind is not a bind


def test_no_bind_resp_is_a_dead_link() -> None:
    s = Session(Role.ESME, response_timeout=5.0)
    s.bind("transceiver", "x", "y", 0.0)
    assert s.tick(4.9) == []
    [ev] = s.tick(5.0)
    assert isinstance(ev, LinkDead) and "bind_transceiver_resp" in ev.reason and s.closed


def test_deliver_before_bind_is_refused_with_rinvbndsts() -> None:
    s = Session(Role.ESME)
    s.bind("transceiver", "x", "y", 0.0)
    s.data_to_send()
    [ev] = s.receive_data(deliver(77), 0)
    assert isinstance(ev, ProtocolError) and ev.kind == "before_bind"
    assert frames(s.data_to_send()) == [(c.DELIVER_SM_RESP, c.ESME_RINVBNDSTS, 77)]


def test_enquire_link_is_answered_in_every_open_state() -> None:
    s = Session(Role.ESME)
    assert s.receive_data(codec.encode_header_only(c.ENQUIRE_LINK, 0, 5), 0) == []
    assert frames(s.data_to_send()) == [(c.ENQUIRE_LINK_RESP, 0, 5)]


def test_deliver_sm_is_a_text_receipt_or_other_and_answered_once() -> None:
    s = bound_esme()
    events = s.receive_data(deliver(10) + deliver(11, b"id:1", esm=0x04)
                            + deliver(12, b"x", esm=0x08), 1.0)
    assert [(e.kind, e.sm.sequence) for e in events if isinstance(e, Deliver)] == [
        ("text", 10), ("receipt", 11), ("other", 12)]
    assert s.respond(10, 0) and not s.respond(10, 0)
    assert frames(s.data_to_send()) == [(c.DELIVER_SM_RESP, 0, 10)]


def test_deliver_sm_on_transmitter_bind_is_refused() -> None:
    s = Session(Role.ESME)
    seq = s.bind("transmitter", "x", "y", 0)
    s.receive_data(codec.encode_header_only(c.BIND_TRANSMITTER_RESP, 0, seq), 0)
    s.data_to_send()
    [ev] = s.receive_data(deliver(3), 0)
    assert isinstance(ev, ProtocolError) and ev.kind == "wrong_state"
    assert frames(s.data_to_send()) == [(c.DELIVER_SM_RESP, c.ESME_RINVBNDSTS, 3)]


def test_response_matched_by_command_and_sequence() -> None:
    """Hole 4: an enquire_link_resp or generic_nack(0) with a submit's sequence number does
    not accept the submit."""
    s = bound_esme()
    seq = submit(s, 1.0, "reply-1")
    [ev] = s.receive_data(codec.encode_header_only(c.ENQUIRE_LINK_RESP, 0, seq), 1.1)
    assert isinstance(ev, ProtocolError) and ev.kind == "unexpected_response"
    assert [o.sequence for o in s.outstanding] == [seq]  # still waiting for the real one
    events = s.receive_data(codec.generic_nack(seq, 0), 1.2)
    assert [type(e) for e in events] == [ProtocolError, RequestFailed]
    assert events[1].status == c.ESME_RSYSERR and events[1].request.context == "reply-1"
    assert s.outstanding == []
    seq2 = submit(s, 2.0)
    [ok] = s.receive_data(codec.encode_sm_resp(c.SUBMIT_SM_RESP, 0, seq2, "abc"), 2.1)
    assert isinstance(ok, Response) and ok.message_id == "abc" and ok.status == 0
    # A response nobody asked for.
    [stray] = s.receive_data(codec.encode_sm_resp(c.SUBMIT_SM_RESP, 0, 999, "x"), 2.2)
    assert isinstance(stray, ProtocolError) and stray.kind == "unexpected_response"


def test_window_and_submit_deadline() -> None:
    """Hole 1: a submit without a response times out and frees its window slot."""
    s = bound_esme(window=2)
    a, b = submit(s, 0.0, "a"), submit(s, 0.5, "b")
    assert s.window_free == 0
    with pytest.raises(LocalProtocolError):
        submit(s, 0.6)
    assert s.next_deadline() == 5.0
    [ev] = s.tick(5.0)
    assert isinstance(ev, TimedOut) and ev.request.sequence == a and ev.request.context == "a"
    assert s.window_free == 1 and s.bound
    # A late response to the timed-out request is unexpected now.
    [late] = s.receive_data(codec.encode_sm_resp(c.SUBMIT_SM_RESP, 0, a, "m"), 5.1)
    assert isinstance(late, ProtocolError)
    assert [o.sequence for o in s.outstanding] == [b]


def test_enquire_link_due_and_dead_link_verdict() -> None:
    s = bound_esme()
    s.receive_data(deliver(1), 10.0)  # anything received counts as life
    assert s.next_deadline() == 40.0
    assert s.tick(39.9) == [] and s.data_to_send() == b""
    assert s.tick(40.0) == []
    [(cid, _st, seq)] = frames(s.data_to_send())
    assert cid == c.ENQUIRE_LINK
    assert s.next_deadline() == 45.0
    s.receive_data(codec.encode_header_only(c.ENQUIRE_LINK_RESP, 0, seq), 41.0)
    assert s.next_deadline() == 71.0
    s.tick(71.0)
    s.data_to_send()
    [dead] = s.tick(76.0)
    assert isinstance(dead, LinkDead) and "enquire_link_resp" in dead.reason and s.closed


def test_unknown_tlv_is_kept_raw_never_fatal() -> None:
    """Hole 5: TLV 0x0005 on a deliver_sm or an alert_notification."""
    s = bound_esme()
    body = deliver(4)
    tlv = struct.pack(">HH", 0x0005, 2) + b"zz"
    frame = struct.pack(">I", len(body) + len(tlv)) + body[4:] + tlv
    [ev] = s.receive_data(frame, 0)
    assert isinstance(ev, Deliver) and ev.sm.tlvs == {0x0005: b"zz"}
    alert = codec.encode(Pdu(c.ALERT_NOTIFICATION, 0, 5, {"source_addr": "371"},
                             {0x0005: b"\x01"}))
    [note] = s.receive_data(alert, 0)
    assert note.pdu.tlvs == {0x0005: b"\x01"}  # type: ignore[union-attr]
    assert s.data_to_send() == b""  # §4.12: alert_notification has no response
    # An enquire_link_resp with a TLV (illegal body) for our enquire_link: still accepted.
    seq = s.enquire_link(1.0)
    s.data_to_send()
    resp = codec.encode_header_only(c.ENQUIRE_LINK_RESP, 0, seq) + tlv
    resp = struct.pack(">I", len(resp)) + resp[4:]
    assert s.receive_data(resp, 1.1) == [] and s.outstanding == [] and s.bound


def test_a_body_cut_inside_a_field_is_answered_and_ends_the_session() -> None:
    """The fields run past command_length: what framed the PDU is wrong, so the stream is
    too (the text after it is not taken from a stream in doubt)."""
    s = bound_esme()
    whole = deliver(9)
    cut = struct.pack(">I", 26) + whole[4:26]
    events = s.receive_data(cut + deliver(10), 0)
    assert [type(e) for e in events] == [ProtocolError, LinkDead] and s.closed
    assert isinstance(events[0], ProtocolError) and events[0].kind == ErrorKind.MISFRAMED
    assert frames(s.data_to_send()) == [(c.GENERIC_NACK, c.ESME_RINVCMDLEN, 9)]


def test_a_deliver_sm_declaring_three_octets_too_few_is_answered_and_ends_the_session() -> None:
    """The hostile SMSC's sequence: command_length 3 short of the body, then a valid text.
    Read on, the 3 octets left over would frame the next PDU and eat the text (never
    answered, redelivered only after a later bad length dropped the link)."""
    s = bound_esme()
    whole = deliver(9, b"VIETA STOP")
    short = struct.pack(">I", len(whole) - 3) + whole[4:]
    events = s.receive_data(short + deliver(10, b"JAUNUMI"), 0)
    assert [type(e) for e in events] == [ProtocolError, LinkDead] and s.closed
    assert isinstance(events[0], ProtocolError) and events[0].kind == ErrorKind.MISFRAMED
    assert frames(s.data_to_send()) == [(c.GENERIC_NACK, c.ESME_RINVMSGLEN, 9)]


def test_a_field_too_long_in_a_well_framed_pdu_is_nacked_and_the_stream_goes_on() -> None:
    s = bound_esme()
    body = deliver(9)[16:].replace(b"29307777\x00", b"2" * 30 + b"\x00")
    bad = struct.pack(">IIII", 16 + len(body), c.DELIVER_SM, 0, 9) + body  # 30-digit address
    events = s.receive_data(bad + deliver(10), 0)
    assert isinstance(events[0], ProtocolError) and events[0].kind == ErrorKind.MALFORMED
    assert isinstance(events[1], Deliver) and events[1].sm.sequence == 10
    assert frames(s.data_to_send()) == [(c.GENERIC_NACK, c.ESME_RINVCMDLEN, 9)]
    assert s.bound


def test_bad_command_length_ends_the_session() -> None:
    s = bound_esme()
    events = s.receive_data(struct.pack(">IIII", 12, c.ENQUIRE_LINK, 0, 3), 0)
    assert [type(e) for e in events] == [ProtocolError, LinkDead] and s.closed
    assert frames(s.data_to_send()) == [(c.GENERIC_NACK, c.ESME_RINVCMDLEN, 3)]


def test_unknown_command_gets_generic_nack() -> None:
    s = bound_esme()
    [ev] = s.receive_data(struct.pack(">IIII", 16, 0xFF, 0, 8), 0)
    assert ev.kind == "unknown_command"  # type: ignore[union-attr]
    assert frames(s.data_to_send()) == [(c.GENERIC_NACK, c.ESME_RINVCMDID, 8)]


def test_unbind_both_ways() -> None:
    s = bound_esme()
    assert s.receive_data(codec.encode_header_only(c.UNBIND, 0, 6), 0) == [Unbound(True, 6)]
    assert frames(s.data_to_send()) == [(c.UNBIND_RESP, 0, 6)] and s.closed
    s = bound_esme()
    seq = s.unbind(0)
    assert s.state is State.UNBINDING
    with pytest.raises(LocalProtocolError):
        submit(s, 0)
    assert s.receive_data(codec.encode_header_only(c.UNBIND_RESP, 0, seq), 0) == \
        [Unbound(False, seq)]
    assert s.closed


def test_peer_close_and_close_hand_back_outstanding() -> None:
    s = bound_esme()
    submit(s, 0, "x")
    assert isinstance(s.receive_data(b"", 0)[0], LinkDead)
    assert [o.context for o in s.close()] == ["x"]
    assert not s.respond(1, 0)


def test_responses_owed_on_a_dead_session_are_not_sent() -> None:
    """Hole 7: parts held from a dead link cannot be answered with its sequence numbers."""
    old = bound_esme()
    old.receive_data(deliver(40), 0)
    old.close("link lost")
    new = bound_esme()
    assert not new.awaiting(40) and not new.respond(40, 0)
    assert new.data_to_send() == b""


def test_sequence_numbers_wrap_and_skip_outstanding() -> None:
    s = bound_esme(window=5)
    s._next_seq = c.MAX_SEQUENCE
    a = submit(s, 0)
    b = submit(s, 0)
    assert (a, b) == (c.MAX_SEQUENCE, 1) or (a, b) == (c.MAX_SEQUENCE, 2)


def test_smsc_role_binds_takes_submits_and_refuses_them_on_receiver() -> None:
    smsc = Session(Role.SMSC, enquire_link_interval=None)
    bind = codec.encode(Pdu(c.BIND_TRANSCEIVER, 0, 1, {"system_id": "gw", "password": "pw"}))
    [req] = smsc.receive_data(bind, 0)
    assert isinstance(req, BindRequested)
    smsc.accept_bind(req.pdu, "smsc-sim")
    resp = codec.decode(smsc.data_to_send())
    assert (resp.command_id, resp.status, resp.params["system_id"]) == (
        c.BIND_TRANSCEIVER_RESP, 0, "smsc-sim")
    [again] = smsc.receive_data(bind, 0)
    assert isinstance(again, ProtocolError)
    assert frames(smsc.data_to_send()) == [(c.BIND_TRANSCEIVER_RESP, c.ESME_RALYBND, 1)]
    sub = codec.encode_submit_sm(2, "29307777", 0, 1, "371", 1, 1, 0, 0, b"x")
    [ev] = smsc.receive_data(sub, 0)
    assert isinstance(ev, Submit) and ev.sm.destination_addr == "371"
    smsc.respond(2, 0, message_id="m1")
    assert codec.decode_sm_resp(smsc.data_to_send()) == (0, 2, "m1")
    seq = smsc.send_request(c.DELIVER_SM, lambda q: deliver(q), 0)
    assert frames(smsc.data_to_send()) == [(c.DELIVER_SM, 0, seq)]

    rx = Session(Role.SMSC, enquire_link_interval=None)
    [req] = rx.receive_data(codec.encode(Pdu(c.BIND_RECEIVER, 0, 1, {})), 0)
    rx.accept_bind(req.pdu, "s")  # type: ignore[union-attr]
    rx.data_to_send()
    rx.receive_data(sub, 0)
    assert frames(rx.data_to_send()) == [(c.SUBMIT_SM_RESP, c.ESME_RINVBNDSTS, 2)]
