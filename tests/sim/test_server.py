"""The simulator against smpplib's Client (an independent peer) over real TCP."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp

from smpp import codec
from smpp import constants as c
from smsc_sim.threaded import SimulatorThread
from tests.sim.conftest import Esme, wait


class RawEsme:
    """A socket speaking SMPP by hand, for what smpplib cannot or will not do."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = codec.FrameReader()
        self.frames: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def bind(self, command_id: int = c.BIND_TRANSCEIVER) -> codec.Pdu:
        self.send(codec.encode(codec.Pdu(command_id, 0, 1, {"system_id": "consentgw",
                                                         "password": "secret",
                                                         "interface_version": 0x34})))
        return self.read()

    def read(self, timeout: float = 5.0) -> codec.Pdu:
        return codec.decode(self.read_frame(timeout))

    def read_frame(self, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.frames:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the SMSC")
            self.frames.extend(self.reader.feed(data))
        return self.frames.pop(0)

    def closed(self, timeout: float = 3.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()


def submit(esme: Esme, to: str = "37129123456", text: bytes = b"Paldies", **kw: Any) -> None:
    esme.client.send_message(source_addr_ton=3, source_addr="29307777", dest_addr_ton=1,
                             dest_addr_npi=1, destination_addr=to, short_message=text, **kw)


# --- binds --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["transceiver", "receiver", "transmitter"])
def test_smpplib_binds_in_every_mode(sim: SimulatorThread, esmes: list[Esme],
                                     mode: str) -> None:
    esmes.append(Esme(sim.port, mode))
    binds = sim.stats()["binds"]
    assert [b["mode"] for b in binds] == [mode]


@pytest.mark.parametrize(("system_id", "password", "status"), [
    ("consentgw", "wrong", c.ESME_RINVPASWD),
    ("someone", "secret", c.ESME_RINVSYSID),
])
def test_bad_credentials_get_the_proper_status(sim: SimulatorThread, system_id: str,
                                               password: str, status: int) -> None:
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    with pytest.raises(smpplib.exceptions.PDUError) as err:
        client.bind_transceiver(system_id=system_id, password=password)
    assert err.value.args[1] == status
    client.disconnect()
    assert sim.stats()["binds_refused"] == 1


def test_second_bind_on_same_connection_is_already_bound(sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    assert raw.bind().status == 0
    assert raw.bind().status == c.ESME_RALYBND
    raw.close()


def test_enquire_link_and_unbind_are_answered(sim: SimulatorThread) -> None:
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="consentgw", password="secret")
    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
    assert client.read_pdu().command == "enquire_link_resp"
    resp = client.unbind()
    assert resp.command == "unbind_resp" and resp.status == 0
    client.disconnect()
    assert wait(lambda: sim.stats().get("unbinds_received") == 1)


def test_submit_sm_gets_unique_message_ids(sim: SimulatorThread) -> None:
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    client.bind_transmitter(system_id="consentgw", password="secret")
    ids = set()
    for i in range(5):
        client.send_message(source_addr="29307777", destination_addr=f"3712912345{i}",
                            short_message=b"x")
        resp = client.read_pdu()
        assert resp.command == "submit_sm_resp" and resp.status == 0
        ids.add(resp.message_id)
    assert len(ids) == 5
    client.disconnect()


def test_submit_sm_on_receiver_bind_is_refused(sim: SimulatorThread) -> None:
    raw = RawEsme(sim.port)
    raw.bind(c.BIND_RECEIVER)
    raw.send(codec.encode(codec.Pdu(c.SUBMIT_SM, 0, 2, {"destination_addr": "37129123456",
                                                      "short_message": b"x"})))
    resp = raw.read()
    assert (resp.command_id, resp.status) == (c.SUBMIT_SM_RESP, c.ESME_RINVBNDSTS)
    raw.close()


@pytest.mark.parametrize(("frame", "status"), [
    (struct.pack(">IIII", 16, 0x00000777, 0, 9), c.ESME_RINVCMDID),
    (struct.pack(">IIII", 8, c.ENQUIRE_LINK, 0, 9), c.ESME_RINVCMDLEN),
])
def test_garbage_gets_generic_nack(sim: SimulatorThread, frame: bytes, status: int) -> None:
    raw = RawEsme(sim.port)
    raw.bind()
    raw.send(frame)
    nack = raw.read()
    assert (nack.command_id, nack.status, nack.sequence) == (c.GENERIC_NACK, status, 9)
    raw.close()


# --- MO delivery -----------------------------------------------------------------------------
def test_mo_spread_over_receiving_binds(sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.extend([Esme(sim.port, "receiver"), Esme(sim.port, "transceiver"),
                  Esme(sim.port, "transmitter")])
    for i in range(10):
        sim.send_mo(f"3712912340{i}", "VIETA")
    assert sim.wait_for_acks(10, 5)
    counts = [len(e.received) for e in esmes]
    assert counts[2] == 0 and counts[0] >= 3 and counts[1] >= 3
    assert sum(counts) == 10


@pytest.mark.parametrize(("message", "opts", "coding", "octets"), [
    ("VIETA STOP", {}, 0, b"VIETA STOP"),
    ("Sadarbība", {}, 8, "Sadarbība".encode("utf-16-be")),
    ("Jaunumi é", {"coding": 3}, 3, "Jaunumi é".encode("latin-1")),
    ("VIETA", {"coding": 8}, 8, "VIETA".encode("utf-16-be")),
])
def test_deliver_sm_codings(sim: SimulatorThread, esmes: list[Esme], message: str,
                            opts: dict[str, Any], coding: int, octets: bytes) -> None:
    esmes.append(Esme(sim.port))
    sim.send_mo("37129123456", message, **opts)
    assert sim.wait_for_acks(1, 5)
    got = esmes[0].received[0]
    assert (got.data_coding, got.short_message) == (coding, octets)
    assert (got.source_addr, got.source_addr_ton, got.source_addr_npi) == (b"37129123456", 1, 1)
    assert got.destination_addr == b"29307777"
    assert got.esm_class == 0


def test_national_source_number(sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.append(Esme(sim.port))
    sim.send_mo("37129123456", "AUTO", national=True)
    assert sim.wait_for_acks(1, 5)
    got = esmes[0].received[0]
    assert (got.source_addr, got.source_addr_ton) == (b"29123456", 2)


def test_long_text_as_udh_parts(sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.append(Esme(sim.port))
    message = "Sadarbība " * 20  # 200 UCS2 characters: 3 parts of at most 67
    sim.send_mo("37129123456", message)
    assert sim.wait_for_acks(1, 5)
    parts = esmes[0].received
    assert len(parts) == 3 and all(p.esm_class & 0x40 for p in parts)
    refs = {p.short_message[3] for p in parts}
    assert len(refs) == 1
    assert [p.short_message[5] for p in parts] == [1, 2, 3]
    assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == message


def test_long_text_as_message_payload(sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.append(Esme(sim.port))
    message = "VIETA STOP " * 20
    sim.send_mo("37129123456", message, long_mode="payload")
    assert sim.wait_for_acks(1, 5)
    (got,) = esmes[0].received
    assert got.short_message in (b"", None)
    assert got.message_payload == message.encode()


# --- MT capture and receipts -------------------------------------------------------------------
def test_reply_is_matched_to_mo_with_latency(sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.append(Esme(sim.port, handler=lambda e, p: e.reply(p, b"Piekrisana VIETA dota")))
    sim.send_mo("37129123456", "VIETA")
    assert sim.wait_for_replies(1, 5)
    (reply,) = sim.replies_for("37129123456")
    assert reply.text == "Piekrisana VIETA dota"
    assert reply.mo_text == "VIETA"
    assert reply.latency_ms is not None and 0 < reply.latency_ms < 2000
    stats = sim.stats()
    assert stats["unanswered"] == 0 and stats["answered_twice"] == 0


def test_concatenated_reply_counts_once(sim: SimulatorThread, esmes: list[Esme]) -> None:
    long_reply = "Paldies, piekrišana ir reģistrēta. " * 6

    def handler(esme: Esme, p: Any) -> None:
        parts, coding, esm_class = smpplib.gsm.make_parts(long_reply)
        for part in parts:
            esme.client.send_message(source_addr="29307777", dest_addr_ton=1,
                                     destination_addr=p.source_addr.decode(),
                                     short_message=part, data_coding=coding,
                                     esm_class=esm_class)

    import smpplib.gsm
    esmes.append(Esme(sim.port, handler=handler))
    sim.send_mo("37129123456", "JAUNUMI")
    assert sim.wait_for_replies(1, 5)
    time.sleep(0.2)
    replies = sim.replies()
    assert len(replies) == 1 and replies[0].parts > 1
    assert replies[0].text == long_reply
    assert sim.stats()["answered_twice"] == 0


def test_second_reply_counts_as_answered_twice(sim: SimulatorThread,
                                               esmes: list[Esme]) -> None:
    def handler(esme: Esme, p: Any) -> None:
        esme.reply(p, b"one")
        esme.reply(p, b"two")

    esmes.append(Esme(sim.port, handler=handler))
    sim.send_mo("37129123456", "VIETA")
    assert sim.wait_for_replies(2, 5)
    assert sim.stats()["answered_twice"] == 1


def test_delivery_receipt_for_registered_delivery(sim: SimulatorThread,
                                                  esmes: list[Esme]) -> None:
    esme = Esme(sim.port)
    esmes.append(esme)
    submit(esme, registered_delivery=1)
    assert wait(lambda: len(esme.received) == 1)
    receipt = esme.received[0]
    message_id = esme.sent_resps[0].message_id.decode()
    assert receipt.esm_class == 0x04
    body = receipt.short_message.decode()
    assert body.startswith(f"id:{message_id} sub:001 dlvr:001 submit date:")
    assert "stat:DELIVRD err:000 text:Paldies" in body
    assert receipt.receipted_message_id.decode() == message_id
    assert receipt.message_state == 2
    assert receipt.source_addr == b"37129123456"


def test_no_receipt_when_not_asked_or_switched_off(sim: SimulatorThread,
                                                   esmes: list[Esme]) -> None:
    esme = Esme(sim.port)
    esmes.append(esme)
    submit(esme, registered_delivery=0)
    sim.set_receipts(False)
    submit(esme, registered_delivery=1)
    assert wait(lambda: len(esme.sent_resps) == 2)
    time.sleep(0.2)
    assert esme.received == []


# --- redelivery ------------------------------------------------------------------------------
def test_temporary_error_makes_it_redeliver(sim: SimulatorThread, esmes: list[Esme]) -> None:
    statuses = [0x64, 0x64, 0]
    esmes.append(Esme(sim.port, handler=lambda e, p: statuses.pop(0)))
    sim.send_mo("37129123456", "VIETA STOP")
    assert sim.wait_for_acks(1, 5)
    assert [p.short_message for p in esmes[0].received] == [b"VIETA STOP"] * 3
    stats = sim.stats()
    assert stats["redeliveries"] == 2 and stats["temp_errors"] == 2


def test_gives_up_after_max_attempts() -> None:
    with SimulatorThread(port=0, retry_min=0.01, retry_max=0.02, max_attempts=3) as s:
        esme = Esme(s.port, handler=lambda e, p: 0x64)
        try:
            s.send_mo("37129123456", "VIETA")
            assert s.wait_until(lambda sim: sim.count["mo_failed"] == 1, 5)
            assert len(esme.received) == 3
        finally:
            esme.close()


def test_unanswered_deliver_sm_is_redelivered_to_another_bind(sim: SimulatorThread,
                                                              esmes: list[Esme]) -> None:
    def crash(esme: Esme, p: Any) -> None:
        raise RuntimeError("died before deliver_sm_resp")  # smpplib then sends no resp

    first = Esme(sim.port, handler=crash)
    esmes.append(first)
    sim.send_mo("37129123456", "AUTO")
    assert wait(lambda: len(first.received) == 1)
    first.close()
    second = Esme(sim.port)
    esmes.append(second)
    assert sim.wait_for_acks(1, 5)
    assert [p.short_message for p in second.received] == [b"AUTO"]
    assert sim.stats()["lost_in_flight"] == 1
