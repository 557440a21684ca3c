"""Delivery receipts with a configurable outcome mix and delay, over real SMPP to smpplib."""

from __future__ import annotations

import time
from typing import Any

import pytest

from smsc_sim.commands import CommandError, Session
from smsc_sim.receipts import MixError, ReceiptPolicy, parse_mix, receipt_body
from smsc_sim.threaded import SimulatorThread
from tests.sim.conftest import Esme, wait


def test_mix_parsing_and_errors() -> None:
    assert parse_mix("delivrd=80, UNDELIV=10;EXPIRED=5,REJECTD=5") == {
        "DELIVRD": 80, "UNDELIV": 10, "EXPIRED": 5, "REJECTD": 5}
    for bad in ("", "DELIVRD", "LOST=5", "DELIVRD=x", "DELIVRD=-1", "DELIVRD=0"):
        with pytest.raises(MixError):
            parse_mix(bad)


def test_shares_decide_the_outcomes() -> None:
    policy = ReceiptPolicy({"DELIVRD": 75, "UNDELIV": 25}, seed=7)
    picks = [policy.pick() for _ in range(4000)]
    assert set(picks) == {"DELIVRD", "UNDELIV"}
    assert 0.70 < picks.count("DELIVRD") / len(picks) < 0.80
    assert policy.sent == {"DELIVRD": picks.count("DELIVRD"), "UNDELIV": picks.count("UNDELIV")}


def test_body_is_appendix_b() -> None:
    body = receipt_body("ab01", "UNDELIV", "2611241200", "2611241201", "Piekrišana VIETA saņemta")
    assert body == ("id:ab01 sub:001 dlvr:000 submit date:2611241200 done date:2611241201 "
                    "stat:UNDELIV err:003 text:Piekrišana VIETA saņ")


def receipts_seen(esme: Esme) -> list[Any]:
    return [p for p in esme.received if int(p.esm_class) & 0x04]


def test_receipts_follow_the_mix_and_the_delay(esmes: list[Esme]) -> None:
    sim = SimulatorThread(port=0, receipt_mix="REJECTD=100", receipt_delay=0.0).start()
    try:
        def handler(esme: Esme, p: Any) -> None:
            if not int(p.esm_class) & 0x04:
                esme.client.send_message(
                    source_addr="29307777", dest_addr_ton=1, destination_addr=p.source_addr.decode(),
                    short_message=b"ok", registered_delivery=1)

        esmes.append(Esme(sim.port, handler=handler))
        sim.send_mo("37129123456", "VIETA")
        assert wait(lambda: len(receipts_seen(esmes[0])) == 1, 5)
        [r] = receipts_seen(esmes[0])
        assert b"stat:REJECTD err:005" in r.short_message
        assert r.message_state == 8  # §5.2.28 REJECTED

        out: list[str] = []
        session = Session(sim, out=out.append)
        session.run("receipts mix EXPIRED=1")
        session.run("receipts delay 1.0")
        assert out[-1] == "receipts: mix EXPIRED=1, delay 1 s"
        with pytest.raises(CommandError, match="STATE=SHARE"):
            session.run("receipts mix DELIVERED=1")
        sent = time.monotonic()
        sim.send_mo("37129123456", "AUTO")
        assert wait(lambda: len(receipts_seen(esmes[0])) == 2, 5)
        assert time.monotonic() - sent >= 1.0
        assert b"stat:EXPIRED" in receipts_seen(esmes[0])[1].short_message
        assert sim.stats()["receipt_policy"]["sent"] == {"EXPIRED": 1}
    finally:
        sim.stop()
