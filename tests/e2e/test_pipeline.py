"""SPEC §4 end to end: smsc-sim → sms-gateway → Redis/RQ → consent-worker → store → reply.

Every test runs the real console commands over TCP against a real Redis and a real
PostgreSQL (one also on SQLite). Expected reply texts come from the shipped catalog, the
same data the workers answer from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_core.model import Outcome
from smpp import codec
from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, Pipelines, wait_until

pytestmark = pytest.mark.e2e

LMT = "37129000001"
OTHER = "37129000002"
MINOR = "37129000003"
CATALOG = load_catalog()


def reply(outcome: Outcome, consent: str | None) -> str:
    return CATALOG.reply(outcome, consent, "lv")


def import_directory(p: Pipeline, tmp_path: Path) -> None:
    csv = tmp_path / "dir.csv"
    csv.write_text(f"msisdn,client_group,independent\n{LMT},lmt,true\n{OTHER},other,true\n"
                   f"{MINOR},lmt,false\n")
    p.ctl("subscribers", "import", str(csv))


def show(p: Pipeline, msisdn: str) -> dict:  # type: ignore[type-arg]
    return json.loads(p.ctl("show", msisdn, "--json").stdout)


def converse(sim: SimulatorThread, msisdn: str, text: str, **opts: object) -> str:
    before = len(sim.replies_for(msisdn))
    sim.send_mo(msisdn, text, **opts)
    assert wait_until(lambda: len(sim.replies_for(msisdn)) > before, 15), \
        f"no reply to {text!r} from {msisdn}"
    return sim.replies_for(msisdn)[-1].text


@pytest.fixture
def running(postgres_url: str, make_pipeline, sim: SimulatorThread, tmp_path: Path):  # type: ignore[no-untyped-def]
    # postgres_url first: fixtures are torn down in reverse, so the processes stop before
    # their database is dropped.
    p = make_pipeline(postgres_url)
    import_directory(p, tmp_path)
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    return p


def test_lmt_subscriber_gives_and_withdraws_vieta_with_replies_and_history(
        running: Pipeline, sim: SimulatorThread) -> None:
    assert converse(sim, LMT, "VIETA") == reply(Outcome.GIVEN, "VIETA")
    state = show(running, LMT)
    assert state["msisdn"] == LMT and state["client_group"] == "lmt"
    assert state["consents"]["VIETA"]["status"] == "given"
    assert state["consents"]["VIETA"]["channel"] == "sms"
    assert set(state["consents"]) == {"JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"}

    assert converse(sim, LMT, "VIETA STOP") == reply(Outcome.WITHDRAWN, "VIETA")
    assert show(running, LMT)["consents"]["VIETA"]["status"] == "withdrawn"
    assert converse(sim, LMT, "VIETA STOP") == reply(Outcome.ALREADY_WITHDRAWN, "VIETA")

    history = json.loads(running.ctl("history", LMT, "--json").stdout)
    events = history if isinstance(history, list) else history["events"]
    assert [e["outcome"] for e in events] == ["given", "withdrawn", "already_withdrawn"]
    assert [e["text"] for e in events] == ["VIETA", "VIETA STOP", "VIETA STOP"]
    assert all(e["channel"] == "sms" for e in events)


def test_non_lmt_number_is_refused_lmt_only_consent_but_may_give_jaunumi(
        running: Pipeline, sim: SimulatorThread) -> None:
    assert converse(sim, OTHER, "VIETA") == reply(Outcome.REFUSED_NOT_LMT_CLIENT, "VIETA")
    assert show(running, OTHER)["consents"]["VIETA"]["status"] == "none"
    assert converse(sim, OTHER, "JAUNUMI") == reply(Outcome.GIVEN, "JAUNUMI")
    assert show(running, OTHER)["consents"]["JAUNUMI"]["status"] == "given"


def test_minor_line_is_told_to_ask_a_guardian(running: Pipeline, sim: SimulatorThread) -> None:
    assert converse(sim, MINOR, "JAUNUMI") == reply(Outcome.REFUSED_NOT_INDEPENDENT, "JAUNUMI")
    assert show(running, MINOR)["consents"]["JAUNUMI"]["status"] == "none"


@pytest.mark.parametrize(("text", "opts", "consent", "status"), [
    ("jaunumi", {}, "JAUNUMI", "given"),
    ("Sadarbība", {}, "SADARBIBA", "given"),
    ("VIETA STOP!", {}, "VIETA", "withdrawn"),
    (" Jaunumi  stop ", {}, "JAUNUMI", "withdrawn"),
    ("metadati", {"coding": 8}, "METADATI", "given"),
    ("auto.", {"coding": 3}, "AUTO", "given"),
])
def test_spelling_variants_and_codings_are_understood(
        running: Pipeline, sim: SimulatorThread, text: str, opts: dict, consent: str,  # type: ignore[type-arg]
        status: str) -> None:
    if status == "withdrawn":
        converse(sim, LMT, consent)
    answer = converse(sim, LMT, text, **opts)
    expected = Outcome.GIVEN if status == "given" else Outcome.WITHDRAWN
    assert answer == reply(expected, consent)
    assert show(running, LMT)["consents"][consent]["status"] == status


def test_unknown_text_gets_the_help_listing_every_command(
        running: Pipeline, sim: SimulatorThread) -> None:
    # A question ("Labdien, kā iet?") gets the help text; a statement that names no command
    # gets the short help (docs/commands.md).
    answer = converse(sim, LMT, "Rīt būšu mājās pēc sešiem")
    assert answer == reply(Outcome.UNKNOWN_COMMAND, None)
    for keyword in ("JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA", "STOP"):
        assert keyword in answer


def test_delivery_receipts_are_recorded_never_taken_for_commands(
        running: Pipeline, sim: SimulatorThread, postgres_url: str) -> None:
    sim.set_receipts(True)
    for text in ("VIETA", "AUTO", "METADATI"):
        converse(sim, LMT, text)
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        def delivered() -> int:
            return int(conn.execute(sa.text(
                "select count(*) from replies where delivery_status = 'DELIVRD'")).scalar_one())
        assert wait_until(lambda: delivered() == 3, 15)
        events = conn.execute(sa.text("select count(*) from consent_events")).scalar_one()
    engine.dispose()
    assert events == 3  # the three receipts added nothing to the ledger
    assert len(sim.replies_for(LMT)) == 3


def test_quick_succession_ends_in_the_later_command_with_several_workers(
        postgres_url: str, make_pipeline, sim: SimulatorThread, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_pipeline(postgres_url, queue={"shards": 4})
    import_directory(p, tmp_path)
    p.gateway()
    for shard in range(4):
        p.worker("--shard", str(shard), name=f"worker{shard}")
    assert sim.wait_for_bind(20)
    numbers = [f"3712910{i:04d}" for i in range(40)]
    csv = tmp_path / "more.csv"
    csv.write_text("".join(f"{n},lmt\n" for n in numbers))
    p.ctl("subscribers", "import", str(csv))
    for n in numbers:
        sim.send_mo(n, "VIETA")
        sim.send_mo(n, "VIETA STOP")
    assert sim.wait_for_replies(80, 30), sim.stats()
    for n in numbers[::7]:
        assert show(p, n)["consents"]["VIETA"]["status"] == "withdrawn"
        texts = [r.text for r in sim.replies_for(n)]
        assert texts == [reply(Outcome.GIVEN, "VIETA"), reply(Outcome.WITHDRAWN, "VIETA")]


def test_no_reply_to_the_short_number_or_an_alphanumeric_sender(
        running: Pipeline, sim: SimulatorThread, postgres_url: str) -> None:
    for ton, source in ((5, "LMT INFO"), (1, "37129307777"), (2, "29307777")):
        frame = codec.encode_deliver_sm(900 + ton, source, ton, 1, "29307777", 0, 0, b"VIETA")
        sim.send_raw(frame)
    assert converse(sim, LMT, "AUTO") == reply(Outcome.GIVEN, "AUTO")
    stats = sim.stats()
    assert stats["unsolicited_replies"] == 0
    assert {r.msisdn for r in sim.replies()} == {LMT}
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        numbers = conn.execute(sa.text("select distinct msisdn from consent_events")).scalars().all()
    engine.dispose()
    assert numbers == [LMT]


def test_link_drop_and_throttling_lose_nothing_and_double_nothing(
        running: Pipeline, sim: SimulatorThread) -> None:
    sim.set_fault("throttle_every", 3)
    numbers = [f"3712920{i:04d}" for i in range(60)]
    for i, n in enumerate(numbers):
        sim.send_mo(n, "JAUNUMI")
        if i == 30:
            sim.drop_connections()
    assert sim.wait_for_replies(60, 40), str(sim.stats())
    stats = sim.stats()
    assert stats["answered_twice"] == 0
    assert stats["unanswered"] == 0
    assert all(len(sim.replies_for(n)) == 1 for n in numbers)
    # The log files are written by other processes: wait for the line, do not race it.
    assert wait_until(lambda: "smpp.link_lost" in running.logs(), 15), running.logs()


def test_sigterm_with_traffic_in_flight_loses_nothing(
        running: Pipeline, sim: SimulatorThread) -> None:
    gateway = running.procs[0]
    numbers = [f"3712930{i:04d}" for i in range(150)]
    for i, n in enumerate(numbers):
        sim.send_mo(n, "JAUNUMI")
        if i == 75:
            assert gateway.terminate(40) == 0  # clean exit within the bound
            running.gateway(name="gateway2")
    assert sim.wait_for_replies(150, 60), sim.stats()
    assert all(len(sim.replies_for(n)) == 1 for n in numbers)
    assert all(show(running, n)["consents"]["JAUNUMI"]["status"] == "given"
               for n in numbers[::15])


def test_whole_path_on_sqlite(sqlite_url: str, make_pipeline, sim: SimulatorThread,  # type: ignore[no-untyped-def]
                              tmp_path: Path) -> None:
    p = make_pipeline(sqlite_url)
    import_directory(p, tmp_path)
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20)
    assert converse(sim, LMT, "SADARBIBA") == reply(Outcome.GIVEN, "SADARBIBA")
    assert converse(sim, LMT, "sadarbiba stop") == reply(Outcome.WITHDRAWN, "SADARBIBA")
    assert show(p, LMT)["consents"]["SADARBIBA"]["status"] == "withdrawn"


def test_receiver_plus_transmitter_binds_carry_texts_in_and_replies_out(
        postgres_url: str, make_pipeline, sim: SimulatorThread, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_pipeline(postgres_url, smpp={"bind_mode": "receiver_transmitter"})
    import_directory(p, tmp_path)
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20)
    assert sim.wait_until(
        lambda s: sorted(b.mode for b in s.binds()) == ["receiver", "transmitter"], 10)
    assert converse(sim, LMT, "VIETA") == reply(Outcome.GIVEN, "VIETA")
    sim.drop_connections()  # both sessions go; both come back
    assert sim.wait_until(lambda s: len(s.binds()) == 2, 20)
    assert converse(sim, LMT, "VIETA STOP") == reply(Outcome.WITHDRAWN, "VIETA")
    assert show(p, LMT)["consents"]["VIETA"]["status"] == "withdrawn"


def test_a_texts_correlation_id_is_findable_in_the_gateway_log_at_info(
        running: Pipeline, sim: SimulatorThread) -> None:
    """Per-text lines are debug (cost), yet an agent grepping the info log for a text's
    correlation id finds the batch that queued it and the flush that sent its reply."""
    converse(sim, LMT, "AUTO")
    history = json.loads(running.ctl("history", LMT, "--json").stdout)
    (event,) = history if isinstance(history, list) else history["events"]
    cid = event["correlation_id"]
    assert cid

    def log_lines() -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(x) for x in running.logs().splitlines() if x.startswith("{")]

    lines = log_lines()
    queued = [x for x in lines if x["event"] == "mo.queued" and cid in x["correlation_ids"]]
    assert queued and queued[0]["level"] == "info"
    assert wait_until(lambda: any(x["event"] == "mt.accepted" and cid in x["correlation_ids"]
                                  for x in log_lines()), 10)
    assert not any(x["event"] == "mo.queued_text" for x in lines)  # debug is off


def test_at_the_backlog_bound_texts_get_the_temporary_error_and_all_arrive_later(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """gateway.max_backlog: with no worker applying, the gateway queues up to the bound and
    answers the rest with the temporary error; the SMSC retries, and once a worker runs,
    every text is applied and answered exactly once."""
    with SimulatorThread(port=0, retry_min=0.2, retry_max=0.5) as sim:
        pipelines = Pipelines(tmp_path, sim.port)
        try:
            p = pipelines.make(redis_url, postgres_url, {
                "gateway": {"max_backlog": 3}, "queue": {"batch_max": 1, "batch_wait_ms": 0}})
            p.gateway()
            assert sim.wait_for_bind(20), p.logs()[-3000:]
            numbers = [f"3712901{i:04d}" for i in range(12)]
            for n in numbers:
                sim.send_mo(n, "JAUNUMI")
            temp = 0x64  # ESME_RX_T_APPN, the configured temporary error
            assert wait_until(lambda: any(a.status == temp for a in sim.answers()), 20), \
                p.logs()[-3000:]
            assert wait_until(lambda: "mo.backlog_full" in p.logs(), 10)
            p.worker()
            assert wait_until(lambda: all(sim.replies_for(n) for n in numbers), 60), \
                p.logs()[-3000:]
            time.sleep(1.0)  # a second answer would come within this
            assert [len(sim.replies_for(n)) for n in numbers] == [1] * len(numbers)
            for n in numbers:
                assert show(p, n)["consents"]["JAUNUMI"]["status"] == "given"
        finally:
            pipelines.stop()
