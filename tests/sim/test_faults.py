"""Each fault mode, seen from the ESME's side (smpplib or a raw socket)."""

from __future__ import annotations

import time
from typing import Any

import smpplib.client
import smpplib.exceptions

from smpp import codec
from smpp import constants as c
from smsc_sim.threaded import SimulatorThread
from tests.sim.conftest import Esme, wait
from tests.sim.test_server import RawEsme, submit


def statuses(esme: Esme) -> list[int]:
    return [int(p.status) for p in esme.sent_resps]


def test_every_nth_submit_is_throttled(sim: SimulatorThread, esmes: list[Esme]) -> None:
    sim.set_fault("throttle", 3)
    esme = Esme(sim.port)
    esmes.append(esme)
    for _ in range(6):
        submit(esme)
    assert wait(lambda: len(esme.sent_resps) == 6)
    assert statuses(esme) == [0, 0, 0x58, 0, 0, 0x58]
    assert sim.stats()["submit_sm_throttled"] == 2
    assert len(sim.replies()) == 4  # refused submits are no replies


def test_every_nth_submit_gets_queue_full(sim: SimulatorThread, esmes: list[Esme]) -> None:
    sim.set_fault("qfull", 2)
    esme = Esme(sim.port)
    esmes.append(esme)
    for _ in range(4):
        submit(esme)
    assert wait(lambda: len(esme.sent_resps) == 4)
    assert statuses(esme) == [0, 0x14, 0, 0x14]


def test_drop_after_n_pdus_is_one_shot(sim: SimulatorThread) -> None:
    sim.set_fault("drop_after", 3)  # bind + 2 enquire_link; the 3rd PDU kills the link
    raw = RawEsme(sim.port)
    raw.bind()
    raw.send(codec.encode_header_only(c.ENQUIRE_LINK, 0, 2))
    assert raw.read().command_id == c.ENQUIRE_LINK_RESP
    raw.send(codec.encode_header_only(c.ENQUIRE_LINK, 0, 3))
    assert raw.closed()
    again = RawEsme(sim.port)
    assert again.bind().status == 0
    for seq in range(2, 6):
        again.send(codec.encode_header_only(c.ENQUIRE_LINK, 0, seq))
        assert again.read().command_id == c.ENQUIRE_LINK_RESP
    assert sim.stats()["fault_drops"] == 1
    again.close()


def test_delayed_responses(sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    raw.bind()
    sim.set_fault("delay_ms", 300)
    started = time.monotonic()
    raw.send(codec.encode_header_only(c.ENQUIRE_LINK, 0, 2))
    assert raw.read().command_id == c.ENQUIRE_LINK_RESP
    assert time.monotonic() - started >= 0.28
    raw.close()


def test_first_bind_refused_then_accepted(sim: SimulatorThread) -> None:
    sim.set_fault("refuse_binds", 1)
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id="consentgw", password="secret")
        raise AssertionError("first bind was accepted")
    except smpplib.exceptions.PDUError as err:
        assert err.args[1] == c.ESME_RBINDFAIL
    client.disconnect()
    esme = Esme(sim.port)  # the second bind goes through
    esme.close()


def test_unbind_sent_to_esme_and_its_answer_recorded(sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    raw.bind()
    assert sim.unbind_all() == 1
    unbind = raw.read()
    assert unbind.command_id == c.UNBIND
    raw.send(codec.encode_header_only(c.UNBIND_RESP, 0, unbind.sequence))
    assert raw.closed()
    answers = [a for a in sim.answers() if a.command == "unbind_resp"]
    assert [a.sequence for a in answers] == [unbind.sequence]


def test_unbind_to_smpplib_which_never_answers_closes_after_timeout(
        sim: SimulatorThread, esmes: list[Esme]) -> None:
    esme = Esme(sim.port)
    esmes.append(esme)
    sim.unbind_all()
    # smpplib 2.2.4 logs the unbind and sends no unbind_resp (SPEC §8): the SMSC gives up.
    assert wait(lambda: esme.error is not None, 5)
    assert sim.stats()["binds"] == []


def test_drop_connections_redelivers_unacknowledged(sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    raw.bind()
    sim.send_mo("37129123456", "VIETA")
    assert raw.read().command_id == c.DELIVER_SM  # held, not acknowledged
    assert sim.drop_connections() == 1
    assert raw.closed()
    again = RawEsme(sim.port)
    again.bind()
    redelivered = again.read()
    assert redelivered.params["short_message"] == b"VIETA"
    again.send(codec.encode(codec.Pdu(c.DELIVER_SM_RESP, 0, redelivered.sequence)))
    assert sim.wait_for_acks(1, 5)
    assert sim.stats()["redeliveries"] == 1
    again.close()


def test_malformed_pdus_reach_the_esme_and_its_answers_are_recorded(
        sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    raw.bind()
    sent: dict[str, Any] = {}
    for kind in ("unknown_command", "truncated"):
        ((_, seq),) = sim.send_malformed(kind)
        sent[kind] = seq
        frame = raw.read_frame()
        length, command_id, _, sequence = codec.HEADER.unpack_from(frame)
        assert sequence == seq and length == len(frame)
        assert command_id == (0xFF if kind == "unknown_command" else c.DELIVER_SM)
        with_status = c.ESME_RINVCMDID if kind == "unknown_command" else c.ESME_RINVMSGLEN
        raw.send(codec.encode_header_only(c.GENERIC_NACK, with_status, seq))
    assert wait(lambda: len(sim.answers()) == 2)
    got = {(a.command, a.status, a.sequence) for a in sim.answers()}
    assert got == {("generic_nack", c.ESME_RINVCMDID, sent["unknown_command"]),
                   ("generic_nack", c.ESME_RINVMSGLEN, sent["truncated"])}
    for kind, length in (("huge_length", 0xFFFFFFFF), ("bad_length", 12)):
        ((_, seq),) = sim.send_malformed(kind)
        raw.sock.settimeout(5)
        header = raw.sock.recv(16)  # our FrameReader would refuse these, as it should
        assert codec.HEADER.unpack_from(header)[0::3] == (length, seq)
    raw.close()


def test_deliver_sm_before_bind(sim: SimulatorThread) -> None:
    assert sim.send_malformed("unbound_deliver") == []  # nobody connected: armed
    raw = RawEsme(sim.port)
    first = raw.read()  # arrives before we bind
    assert first.command_id == c.DELIVER_SM
    raw.send(codec.encode_header_only(c.GENERIC_NACK, c.ESME_RINVBNDSTS, first.sequence))
    assert wait(lambda: any(a.status == c.ESME_RINVBNDSTS for a in sim.answers()))
    raw.close()


def test_faults_from_start_flags() -> None:
    with SimulatorThread(port=0, faults=None) as s:
        s.set_fault("throttle", 1)
        assert s.stats()["faults"]["throttle_every"] == 1
        s.set_fault("off")
        assert s.stats()["faults"]["throttle_every"] == 0
