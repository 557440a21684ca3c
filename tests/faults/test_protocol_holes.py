"""The protocol holes of issue 11, each against the real gateway and worker processes and
the in-process simulator playing a hostile SMSC. Each test failed on the gateway before
the session (smpp/session.py) took over the protocol state, and passes now."""

from __future__ import annotations

import json
import re
import struct
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_core.model import Outcome
from gateway.inbound import fingerprint
from smpp import codec
from smpp import constants as c
from smsc_sim.text import encode_text
from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.faults

CATALOG = load_catalog()
LMT = "37129000001"


def metric(port: int, name: str, labels: str = "") -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", body, re.M):
        if labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def start(make_shared_pipeline, sim: SimulatorThread, **overrides: dict[str, Any]) -> Pipeline:  # type: ignore[no-untyped-def]
    port = free_port()
    p: Pipeline = make_shared_pipeline(metrics={"gateway_port": port, "worker_port": 0},
                                       **overrides)
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    p.metrics_port = port  # type: ignore[attr-defined]
    return p


def events_of(database_url: str, msisdn: str) -> list[Any]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select action, consent, text, smsc from consent_events where msisdn = :m "
            "order by id"), {"m": msisdn}).all()
    engine.dispose()
    return list(rows)


def status_of(database_url: str, msisdn: str, consent: str) -> str | None:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text("select status from consent_state where msisdn = :m and "
                                   "consent = :c"), {"m": msisdn, "c": consent}).first()
    engine.dispose()
    return None if row is None else str(row[0])


# --- hole 1 ---------------------------------------------------------------------------------
def test_unanswered_submits_do_not_stop_replies_and_healthz_says_so(
        make_shared_pipeline, sim: SimulatorThread) -> None:  # type: ignore[no-untyped-def]
    """An SMSC that never answers a window of submits: /healthz turns 503 while replies are
    due and none is accepted; the submits time out, the link is recycled, and once the SMSC
    answers again every reply goes out (before: 0 replies for good, /healthz 200)."""
    p = start(make_shared_pipeline, sim,
              smpp={"submit_window": 3, "submit_timeout": 1.5},
              gateway={"reply_stall_timeout": 3.0})
    port = p.metrics_port  # type: ignore[attr-defined]
    sim.set_fault("silent_submits", 10_000)
    numbers = [f"3712940{i:04d}" for i in range(6)]
    for n in numbers:
        sim.send_mo(n, "JAUNUMI")
    assert wait_until(lambda: healthz(port)[1]["replies_flowing"] is False, 20), healthz(port)
    assert healthz(port)[0] == 503
    assert sim.stats()["replies"] == 0
    sim.set_fault("silent_submits", 0)
    assert sim.wait_for_replies(len(numbers), 30), str(sim.stats())
    assert all(len(sim.replies_for(n)) >= 1 for n in numbers)
    assert wait_until(lambda: healthz(port)[0] == 200, 15), healthz(port)
    assert metric(port, "smsgw_submit_timeouts_total") >= 3
    assert "mt.submit_timeout" in p.logs()


def test_resubmit_mode_sends_again_on_the_same_bind(
        make_shared_pipeline, sim: SimulatorThread) -> None:  # type: ignore[no-untyped-def]
    p = start(make_shared_pipeline, sim, smpp={"submit_window": 2, "submit_timeout": 1.0,
                                              "submit_timeout_action": "resubmit"})
    connections = sim.stats()["connections"]
    sim.set_fault("silent_submits", 2)
    sim.send_mo("37129410001", "JAUNUMI")
    sim.send_mo("37129410002", "JAUNUMI")
    assert sim.wait_for_replies(2, 20), str(sim.stats())
    assert sim.stats()["connections"] == connections, "resubmit keeps the bind"
    assert metric(p.metrics_port, "smsgw_submit_timeouts_total") == 2  # type: ignore[attr-defined]


# --- hole 4 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["enquire_link_resp", "generic_nack0"])
def test_wrong_response_with_a_submits_sequence_does_not_accept_it(
        make_shared_pipeline, sim: SimulatorThread, kind: str) -> None:  # type: ignore[no-untyped-def]
    """An enquire_link_resp or a generic_nack(0) carrying a submit's sequence number does not
    mark the reply accepted: it is counted, and the reply is sent again until the SMSC
    really accepts it (before: recorded as sent, never delivered)."""
    p = start(make_shared_pipeline, sim, smpp={"submit_timeout": 1.5})
    sim.set_fault("bogus_kind", kind)
    sim.set_fault("bogus_submit_resps", 1)
    sim.send_mo("37129420001", "JAUNUMI")
    assert wait_until(lambda: len(sim.replies_for("37129420001")) == 1, 20), str(sim.stats())
    assert sim.stats()["submit_sm_bogus_resp"] == 1
    assert metric(p.metrics_port, "smsgw_unexpected_responses_total") >= 1  # type: ignore[attr-defined]


# --- hole 5 ---------------------------------------------------------------------------------
def test_unexpected_tlvs_are_kept_and_never_kill_the_link(
        make_shared_pipeline, sim: SimulatorThread) -> None:  # type: ignore[no-untyped-def]
    """TLV 0x0005 (legal elsewhere) on an alert_notification, an unsolicited
    enquire_link_resp and a deliver_sm: the link stays up, nothing crashes (before: smpplib's
    KeyError killed the reader and dropped the link, uncounted)."""
    p = start(make_shared_pipeline, sim)
    port = p.metrics_port  # type: ignore[attr-defined]
    connections = sim.stats()["connections"]
    tlv = codec.encode_tlvs({0x0005: b"\x01"})
    alert = codec.encode(codec.Pdu(c.ALERT_NOTIFICATION, 0, 7001, {"source_addr": LMT},
                                   {0x0005: b"\x01"}))
    resp = codec.encode_header_only(c.ENQUIRE_LINK_RESP, 0, 7002) + tlv
    resp = struct.pack(">I", len(resp)) + resp[4:]
    text = codec.encode_deliver_sm(7003, "37129430001", 1, 1, "29307777", 0, 0, b"JAUNUMI", tlv)
    sim.send_raw(alert + resp + text)
    assert wait_until(lambda: len(sim.replies_for("37129430001")) == 1, 20), p.logs()[-2000:]
    time.sleep(0.5)
    assert sim.stats()["connections"] == connections, "the link must stay up"
    assert metric(port, "smsgw_link_io_crashes_total") == 0
    assert metric(port, "smsgw_unexpected_responses_total") >= 1  # the unsolicited resp
    assert "io_crashed" not in p.logs()


# --- hole 6 ---------------------------------------------------------------------------------
def test_text_to_another_number_is_acknowledged_counted_and_never_a_consent(
        make_shared_pipeline, sim: SimulatorThread, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    p = start(make_shared_pipeline, sim, smpp={"wrong_destination_status": 0x0B})
    port = p.metrics_port  # type: ignore[attr-defined]
    sim.send_raw(codec.encode_deliver_sm(7101, LMT, 1, 1, "29300000", 0, 0, b"VIETA"))
    # A text to us afterwards: once its reply is back, the first has been handled.
    sim.send_mo("37129440001", "JAUNUMI")
    assert wait_until(lambda: len(sim.replies_for("37129440001")) == 1, 20)
    assert wait_until(lambda: any(a.sequence == 7101 for a in sim.answers()), 5)
    [answer] = [a for a in sim.answers() if a.sequence == 7101]
    assert (answer.command, answer.status) == ("deliver_sm_resp", 0x0B)
    assert sim.replies_for(LMT) == []
    assert events_of(postgres_url, LMT) == []
    assert metric(port, "smsgw_texts_received_total", 'outcome="wrong_destination"') == 1
    assert "mo.wrong_destination" in p.logs()


# --- hole 2 and the split surrogate pair -------------------------------------------------------
def part(seq: int, msisdn: str, ref: int, total: int, n: int, octets: bytes,
         coding: int = 0) -> bytes:
    udh = bytes([5, 0x00, 3, ref, total, n])
    return codec.encode_deliver_sm(seq, msisdn, 1, 1, "29307777", c.ESM_UDHI, coding,
                                   udh + octets)


def test_sets_sharing_a_reference_are_kept_apart_and_each_part_answered_once_held(
        make_shared_pipeline, sim: SimulatorThread, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    """Two long texts from one number with the same reference and different totals: each
    part is acknowledged once Redis holds it, never kept waiting for its siblings (which may
    be on another bind); the set that never completes is queued as received after the
    timeout, the other as its own text (before: acknowledged with the other set, then lost)."""
    start(make_shared_pipeline, sim, gateway={"concat_timeout": 3.0})
    n = "37129450001"
    # Set A: 2 parts, only the first ever comes. Set B: 3 parts, same reference 7.
    sim.send_raw(part(7201, n, 7, 2, 1, b"VIETA "))
    sim.send_raw(part(7202, n, 7, 3, 1, b"JAU") + part(7203, n, 7, 3, 2, b"NU")
                 + part(7204, n, 7, 3, 3, b"MI"))
    assert wait_until(lambda: len(sim.replies_for(n)) == 1, 20)
    answered = {a.sequence: a.status for a in sim.answers() if a.command == "deliver_sm_resp"}
    assert {7201, 7202, 7203, 7204} <= set(answered)
    assert wait_until(lambda: len(events_of(postgres_url, n)) == 2, 20)
    texts = [r.text for r in events_of(postgres_url, n)]
    assert texts == ["JAUNUMI", "VIETA "]
    assert all(s == 0 for s in {a.sequence: a.status for a in sim.answers()}.values())


def test_surrogate_pair_split_across_two_parts_is_one_character(
        make_shared_pipeline, sim: SimulatorThread, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    start(make_shared_pipeline, sim)
    n = "37129450002"
    octets = "VIETA 👍".encode("utf-16-be")
    first, second = octets[:-2], octets[-2:]  # the emoji's high and low surrogates split
    sim.send_raw(part(7301, n, 9, 2, 1, first, 8) + part(7302, n, 9, 2, 2, second, 8))
    assert wait_until(lambda: len(events_of(postgres_url, n)) == 1, 20)
    [row] = events_of(postgres_url, n)
    assert row.text == "VIETA 👍"


# --- hole 3 ---------------------------------------------------------------------------------
def lmt_client(p: Pipeline, n: str, tmp_path: Path) -> None:
    (tmp_path / "dir.csv").write_text(f"msisdn,client_group,independent\n{n},lmt,true\n")
    p.ctl("subscribers", "import", str(tmp_path / "dir.csv"))


def left_pending(redis_url: str, n: str, words: str, mark: str) -> str:
    """``words`` from ``n`` as a dead connection left it: queued, its entry pending with
    ``mark`` (``q``: the gateway died after answering, maybe; ``u``: never answered) and the
    number's latest text. Returns the entry's event id."""
    coding, octets = encode_text(words, None)
    sm = codec.decode_sm(codec.encode_deliver_sm(1, n, 1, 1, "29307777", 0, coding, octets))
    eid = uuid.uuid4().hex
    client = redis.Redis.from_url(redis_url)
    client.rpush(f"smsgw:pending:{n}",
                 f"dead.1|{fingerprint(n, [sm])}|{eid}|{time.time():.3f}|{mark}")
    client.set(f"smsgw:latest:{n}", eid)
    client.close()
    return eid


def test_retyped_command_after_a_link_drop_is_not_taken_for_a_redelivery(
        make_shared_pipeline, sim: SimulatorThread, redis_url: str, postgres_url: str,
        tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """VIETA STOP was queued on a connection that died before its acknowledgement (left
    pending, as a kill -9 leaves it); then VIETA; then VIETA STOP typed again. The second
    STOP is a new text: queued, answered, and the number ends withdrawn (before: taken for
    the redelivery, never answered, the number ended given)."""
    n = "37129460001"
    p = start(make_shared_pipeline, sim)
    lmt_client(p, n, tmp_path)
    left_pending(redis_url, n, "VIETA STOP", "q")
    sim.send_mo(n, "VIETA")
    assert wait_until(lambda: len(sim.replies_for(n)) == 1, 20)
    sim.send_mo(n, "VIETA STOP")
    assert wait_until(lambda: len(sim.replies_for(n)) == 2, 20), str(sim.stats())
    assert [r.text for r in sim.replies_for(n)] == [
        CATALOG.reply(Outcome.GIVEN, "VIETA", "lv"), CATALOG.reply(Outcome.WITHDRAWN, "VIETA", "lv")]
    assert status_of(postgres_url, n, "VIETA") == "withdrawn"


def test_retyped_withdrawal_after_an_unanswered_one_ends_withdrawn_and_names_the_pair(
        make_shared_pipeline, sim: SimulatorThread, redis_url: str, postgres_url: str,
        tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 24's retype sequence: VIETA; VIETA STOP queued but its deliver_sm_resp lost with
    the link (its entry *unanswered*: the SMSC must redeliver it); VIETA on the new bind;
    VIETA STOP again. The second STOP may be the redelivery or the person's new word: a
    withdrawal is applied on the safe side, and its ledger row names the entry it may
    repeat (before: taken for the redelivery, never applied, the number ended given)."""
    n = "37129460002"
    p = start(make_shared_pipeline, sim)
    lmt_client(p, n, tmp_path)
    sim.send_mo(n, "VIETA")
    assert wait_until(lambda: len(sim.replies_for(n)) == 1, 20)
    eid = left_pending(redis_url, n, "VIETA STOP", "u")
    sim.send_mo(n, "VIETA")
    assert wait_until(lambda: len(sim.replies_for(n)) == 2, 20)
    sim.send_mo(n, "VIETA STOP")
    assert wait_until(lambda: len(sim.replies_for(n)) == 3, 20), str(sim.stats())
    assert status_of(postgres_url, n, "VIETA") == "withdrawn"
    rows = events_of(postgres_url, n)
    assert [(r.action, r.text) for r in rows] == [
        ("give", "VIETA"), ("give", "VIETA"), ("withdraw", "VIETA STOP")]
    assert rows[-1].smsc["possible_redelivery_of"] == eid
