"""Faults in the middle of a 2,000-text stream; afterwards nothing is lost or doubled.

Each test offers 400 numbers × 5 commands through the in-process simulator to the real
``sms-gateway`` and ``consent-worker`` processes, against a Redis and a PostgreSQL of the
module's own (they are stopped here), breaks one thing half-way, and then checks, per
text, what tests/faults/stream.py describes. The counts are printed (``pytest -s``) and
written to ``counts.json`` in the test's tmp dir. docs/guarantees.md says what is promised.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.faults.stream import NO_LIMITS, Stream, Supervisor
from tests.support import servers
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.faults

RATE = 250.0  # texts offered per second
WINDOW = 10  # smpp.submit_window
# A gateway dying (or a link dropping) after the SMSC accepted a reply but before the reply
# left Redis makes it send that reply again: at most what it had taken (2 × window) plus
# what was in flight (window).
DUPLICATES_PER_DISRUPTION = 3 * WINDOW


def start(make_pipeline, sim: SimulatorThread, *, workers: int = 1,  # type: ignore[no-untyped-def]
          throttle_pause: float = 0.2) -> tuple[Pipeline, Stream]:
    p: Pipeline = make_pipeline(limits=NO_LIMITS, queue={"shards": workers},
                                smpp={"submit_window": WINDOW, "throttle_pause": throttle_pause})
    stream = Stream(sim)
    stream.import_directory(p)
    p.gateway()
    for shard in range(workers):
        p.worker("--shard", str(shard), name=f"worker{shard}") if workers > 1 else p.worker()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    return p, stream


def finish(p: Pipeline, stream: Stream, fresh: tuple[str, str], tmp_path: Path, fault: str,
           sup: Supervisor, *, disruptions: int = 0, fault_s: float = 0.0,
           queued_before_temp_error: bool = False) -> dict:  # type: ignore[type-arg]
    redis_url, database_url = fresh
    stream.settle(p, redis_url, database_url)
    counts = stream.verify(p, redis_url, database_url, fault=fault,
                           duplicate_bound=disruptions * DUPLICATES_PER_DISRUPTION,
                           out=tmp_path / "counts.json",
                           queued_before_temp_error=queued_before_temp_error,
                           extra={"fault_seconds": round(fault_s, 1),
                                  "unexpected_exits": sup.unexpected_exits})
    assert not counts["problems"], "\n".join(counts["problems"])
    assert counts["offered"] == counts["acknowledged"] == counts["applied"] == len(stream.plan)
    return counts


def test_worker_killed_mid_stream_loses_and_doubles_nothing(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, stream = start(make_pipeline, sim, workers=2)
    worker = next(x for x in p.procs if x.name == "worker0")
    with Supervisor(p.procs) as sup:
        took = stream.offer(RATE, at_half=lambda: sup.kill9_and_restart(worker, down=1.0))
        counts = finish(p, stream, fresh, tmp_path, "kill -9 worker", sup, fault_s=took)
    assert counts["duplicated"] == 0
    assert not sup.unexpected_exits
    assert "worker.job_recovered" in worker.log() or "worker.started" in worker.log()


def test_gateway_killed_mid_stream_simsc_redelivers_and_nothing_is_doubled(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p, stream = start(make_pipeline, sim)
    gateway = next(x for x in p.procs if x.name == "gateway")
    with Supervisor(p.procs) as sup:
        took = stream.offer(RATE, at_half=lambda: sup.kill9_and_restart(gateway, down=1.0))
        counts = finish(p, stream, fresh, tmp_path, "kill -9 gateway", sup, disruptions=1,
                        fault_s=took)
    assert counts["lost_in_flight"] > 0, "the kill should have caught texts in flight"
    assert not sup.unexpected_exits


def test_redis_down_10s_gateway_answers_temporary_error_and_nothing_is_lost(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path,  # type: ignore[no-untyped-def]
        own_redis: servers.RedisServer) -> None:
    p, stream = start(make_pipeline, sim)

    def outage() -> None:
        own_redis.stop()
        time.sleep(10)
        own_redis.start()

    with Supervisor(p.procs) as sup:
        took = stream.offer(RATE, at_half=outage)
        # A batch whose write was on the wire when Redis went away may have been queued with
        # only its answer lost (gateway/inbound.py, the "unsure" batches): the SMSC got the
        # temporary error and redelivers it, possibly after the number's next text, and the
        # redelivery is recognised. Such a text keeps the place of its first queueing, so
        # its order is checked against the ledger, not against the acknowledgements.
        counts = finish(p, stream, fresh, tmp_path, "Redis stopped 10 s", sup, fault_s=took,
                        queued_before_temp_error=True)
    stats = sim.stats()
    assert stats.get("deliver_sm_resp_ESME_RX_T_APPN", 0) > 0, "no 0x64 while Redis was down"
    assert counts["temp_errors"] > 0
    assert counts["duplicated"] == 0
    # Gateway and worker both ride the outage out: the worker waits in its loop and puts
    # the interrupted job back itself (workers/outage.py; before, RQ's loop quit and
    # only systemd's restart brought it back).
    assert not sup.unexpected_exits, sup.unexpected_exits


def test_postgres_down_10s_workers_wait_and_nothing_is_lost(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path,  # type: ignore[no-untyped-def]
        own_postgres: servers.PostgresServer) -> None:
    p, stream = start(make_pipeline, sim)

    def outage() -> None:
        own_postgres.stop("fast")
        time.sleep(10)
        own_postgres.start()

    with Supervisor(p.procs) as sup:
        took = stream.offer(RATE, at_half=outage)
        counts = finish(p, stream, fresh, tmp_path, "PostgreSQL stopped 10 s", sup, fault_s=took)
    assert counts["duplicated"] == 0
    assert not sup.unexpected_exits
    assert "store.unavailable" in p.logs()


def test_link_drop_unbind_and_throttling_lose_and_double_nothing(
        make_pipeline, sim: SimulatorThread, fresh: tuple[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A 20 ms pause after ESME_RTHROTTLED (Kannel: 1 s) keeps 2,000 replies with every
    # fifth submit throttled inside the suite's time budget.
    p, stream = start(make_pipeline, sim, throttle_pause=0.02)
    sim.set_fault("throttle_every", 5)

    def link_trouble() -> None:
        sim.drop_connections()
        assert sim.wait_for_bind(20)
        time.sleep(2.0)
        assert sim.unbind_all() == 1
        assert sim.wait_until(lambda s: s.count["unbind_resp_received"] >= 1, 10)
        assert sim.wait_for_bind(20)

    with Supervisor(p.procs) as sup:
        took = stream.offer(RATE, at_half=link_trouble)
        counts = finish(p, stream, fresh, tmp_path, "link drop + unbind + throttle 1/5", sup,
                        disruptions=2, fault_s=took)
    assert counts["submit_throttled"] > 0
    assert not sup.unexpected_exits
