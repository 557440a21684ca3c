"""Two ``sms-gateway`` instances bound to one SMSC that spreads texts, and the parts of long
texts, round-robin over the binds (smsc-sim hands each deliver_sm to the next receiving
bind, as real SMSCs do): every text applied once and answered once, long texts whose parts
came over both binds joined, a number's rapid sequence ending in its last command, and one
instance ``kill -9``ed mid-run with nothing lost. Real processes, real Redis and
PostgreSQL; docs/guarantees.md says what is promised."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smsc_sim.threaded import SimulatorThread
from tests.faults.stream import NO_LIMITS, Stream, Supervisor
from tests.support.pipeline import BIN, Pipeline, Proc, wait_until

pytestmark = pytest.mark.faults

RATE = 200.0  # texts offered per second
WINDOW = 10  # smpp.submit_window
INSTANCES = ("gw-a", "gw-b")
RAPID = ["VIETA", "VIETA STOP", "METADATI", "METADATI STOP", "METADATI"]


def two_gateways(make_pipeline: Any, sim: SimulatorThread, stream: Stream,
                 ) -> tuple[Pipeline, list[Proc]]:
    p: Pipeline = make_pipeline(limits=NO_LIMITS, smpp={"submit_window": WINDOW})
    stream.import_directory(p)
    gateways = []
    for name in INSTANCES:
        # Same configuration, one instance name each (its reply list and status in Redis).
        proc = Proc(name, [str(BIN / "sms-gateway"), "run"],
                    {**p.env, "SMSGW_GATEWAY__INSTANCE": name}, p.workdir / f"{name}.log")
        p.procs.append(proc)
        gateways.append(proc.start())
    p.worker()
    assert sim.wait_for_bind(20, receivers=2), p.logs()[-3000:]
    return p, gateways


def sms_events(database_url: str, msisdn: str | None = None) -> list[Any]:
    engine = sa.create_engine(database_url)
    query = "select msisdn, text, ingest_seq, smsc from consent_events where channel = 'sms'"
    with engine.connect() as conn:
        if msisdn is None:
            rows = conn.execute(sa.text(query)).all()
        else:
            rows = conn.execute(sa.text(query + " and msisdn = :m order by ingest_seq"),
                                {"m": msisdn}).all()
    engine.dispose()
    return list(rows)


def smsc_of(row: Any) -> dict[str, Any]:
    return row.smsc if isinstance(row.smsc, dict) else json.loads(row.smsc or "{}")


def long_text_counts(p: Pipeline) -> dict[str, int]:
    logs = p.logs()
    return {how: len(re.findall(rf'"event": "{event}"', logs)) for how, event in (
        ("completed", "parts.set_completed"), ("claimed", "parts.set_claimed"),
        ("expired", "mo.concat_incomplete"), ("taken_elsewhere", "parts.set_taken_elsewhere"),
        ("part_busy", "mo.part_busy"))}


def test_two_gateways_apply_and_answer_every_text_once_and_join_parts_across_binds(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stream = Stream(sim, numbers=150, per_number=4, prefix="3712610", long_every=5)
    rapid, at_once = "37126109999", "37126109998"
    stream.numbers += [rapid, at_once]  # in the directory; they send after the stream
    p, _gateways = two_gateways(make_pipeline, sim, stream)
    del stream.numbers[-2:]
    with Supervisor(p.procs) as sup:
        stream.offer(RATE, at_half=lambda: None)
        stream.settle(p, *fresh)
        counts = stream.verify(p, *fresh, fault="two gateways", duplicate_bound=0,
                               out=tmp_path / "counts.json",
                               extra={"long_texts": long_text_counts(p)})
    assert not counts["problems"], "\n".join(counts["problems"])
    assert counts["duplicated"] == 0 and not sup.unexpected_exits
    rows = sms_events(fresh[1])
    by_instance = {smsc_of(r).get("gateway") for r in rows}
    assert by_instance == set(INSTANCES), "the simulator spreads texts over both binds"
    long_rows = [smsc_of(r) for r in rows if len(r.text) > 160]
    assert len(long_rows) == sum(1 for _, text, _, _ in stream.plan if len(text) > 160) > 0
    split = [s for s in long_rows if len({c.split(".")[0] for c in s["concat"]["conns"]}) == 2]
    assert split, "some long text had its two parts on the two instances"

    # A number's rapid sequence, each text delivered as soon as the one before it was
    # acknowledged (an SMSC keeping a sender's texts in order), alternately on the two
    # binds (receipts off, so nothing else takes a turn of the round robin).
    sim.set_receipts(False)
    for text in RAPID:
        mo_id = sim.send_mo(rapid, text)
        assert wait_until(lambda mo_id=mo_id: mo_id in stream.book.acked, 20)
    assert wait_until(lambda: len(sms_events(fresh[1], rapid)) == 5
                      and len(sim.replies_for(rapid)) == 5, 30), p.logs()[-3000:]
    mine = sms_events(fresh[1], rapid)
    assert [r.text for r in mine] == RAPID  # numbered in the order they were queued
    assert {smsc_of(r)["gateway"] for r in mine} == set(INSTANCES)
    state = json.loads(p.ctl("show", rapid, "--json").stdout)["consents"]
    assert (state["METADATI"]["status"], state["VIETA"]["status"]) == ("given", "withdrawn")

    # The same five at once: on both binds before either is acknowledged. Their order is
    # that of their transactions in Redis (docs/guarantees.md "Order"): each applied and
    # answered once, numbered apart, and the state is that of the one numbered last.
    for text in RAPID:
        sim.send_mo(at_once, text)
    assert wait_until(lambda: len(sms_events(fresh[1], at_once)) == 5
                      and len(sim.replies_for(at_once)) == 5, 30), p.logs()[-3000:]
    together = sms_events(fresh[1], at_once)
    assert sorted(r.text for r in together) == sorted(RAPID)
    assert len({r.ingest_seq for r in together}) == 5
    state = json.loads(p.ctl("show", at_once, "--json").stdout)["consents"]
    for consent in ("VIETA", "METADATI"):
        last = [r.text for r in together if r.text.startswith(consent)][-1]
        want = "withdrawn" if last.endswith("STOP") else "given"
        assert state[consent]["status"] == want, (consent, [r.text for r in together])
    print(f"[two gateways] at once, applied in the order {[r.text for r in together]}")
    print(f"[two gateways] {len(split)} of {len(long_rows)} long texts had parts on both "
          f"instances; texts per instance: "
          f"{ {i: sum(1 for r in rows if smsc_of(r).get('gateway') == i) for i in INSTANCES} }")


def test_one_of_two_gateways_killed_mid_stream_loses_nothing(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stream = Stream(sim, numbers=200, per_number=4, prefix="3712620", long_every=4)
    p, gateways = two_gateways(make_pipeline, sim, stream)
    victim = gateways[0]
    with Supervisor(p.procs) as sup:
        started = time.monotonic()
        took = stream.offer(RATE, at_half=lambda: sup.kill9_and_restart(victim, down=1.0))
        stream.settle(p, *fresh)
        counts = stream.verify(p, *fresh, fault="kill -9 one of two gateways",
                               duplicate_bound=3 * WINDOW, out=tmp_path / "counts.json",
                               extra={"fault_seconds": round(took, 1),
                                      "run_seconds": round(time.monotonic() - started, 1),
                                      "long_texts": long_text_counts(p),
                                      "unexpected_exits": sup.unexpected_exits})
    assert not counts["problems"], "\n".join(counts["problems"])
    assert counts["offered"] == counts["acknowledged"] == counts["applied"] == len(stream.plan)
    assert victim.runs == 2 and not sup.unexpected_exits
