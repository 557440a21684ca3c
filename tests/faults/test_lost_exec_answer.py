"""A batch Redis queued but whose answer the gateway never got (Redis stopped, or the link
to it cut, right after EXEC): the gateway answered the temporary error, so the SMSC
redelivers the text on the same bind. That copy is the redelivery of the queued one, not a
new text: applied once, answered once (docs/guarantees.md "Redelivery"; the Redis-outage
fault test once found six texts applied twice this way)."""

from __future__ import annotations

from pathlib import Path

import redis

from smsc_sim.threaded import SimulatorThread
from tests.faults.test_protocol_holes import events_of
from tests.support.pipeline import Pipelines, wait_until
from tests.support.tcpproxy import RedisCutProxy


def test_a_batch_redis_ran_but_whose_answer_was_lost_is_applied_and_answered_once(
        sim: SimulatorThread, redis_url: str, postgres_url: str, tmp_path: Path) -> None:
    n = "37129460002"
    proxy = RedisCutProxy(redis_url)
    pipelines = Pipelines(tmp_path, sim.port)
    # The gateway talks to Redis through the proxy; the worker directly.
    p = pipelines.make(proxy.url, postgres_url, {})
    try:
        (tmp_path / "dir.csv").write_text(f"msisdn,client_group,independent\n{n},lmt,true\n")
        p.ctl("subscribers", "import", str(tmp_path / "dir.csv"))
        p.gateway()
        p.env = {**p.env, "SMSGW_REDIS__URL": redis_url}
        p.worker()
        assert sim.wait_for_bind(20), p.logs()[-3000:]
        before = sim.stats()

        # Cut the enqueue's transaction (it writes the pending entries) after Redis has it.
        proxy.cut_after_exec(hold_s=3.0, containing=b":pending:")
        sim.send_mo(n, "VIETA")
        assert wait_until(lambda: sim.stats()["mo_acknowledged"] > before["mo_acknowledged"],
                          40), (sim.stats(), p.logs()[-3000:])
        after = sim.stats()
        assert proxy.cuts == 1
        assert after["temp_errors"] > before["temp_errors"]  # answered 0x14 first ...
        assert after["redeliveries"] > before["redeliveries"]  # ... and sent again

        assert wait_until(lambda: len(sim.replies_for(n)) >= 1, 20), p.logs()[-3000:]
        client = redis.Redis.from_url(redis_url)
        assert wait_until(lambda: client.llen("rq:queue:consent-events-0") == 0, 20)
        client.close()
        assert [row.text for row in events_of(postgres_url, n)] == ["VIETA"]
        assert len(sim.replies_for(n)) == 1
    finally:
        pipelines.stop()
        proxy.close()


def test_a_job_whose_dequeue_answer_was_lost_is_applied_at_once(
        sim: SimulatorThread, redis_url: str, postgres_url: str, tmp_path: Path) -> None:
    """The worker's BLMOVE ran (the job moved to RQ's safety list) but its answer never came
    back. The job must not wait there for RQ's maintenance (ten minutes, and then only as a
    failure whose retry applied it a second time): the worker puts it back before its next
    dequeue."""
    n = "37129460003"
    proxy = RedisCutProxy(redis_url)
    pipelines = Pipelines(tmp_path, sim.port)
    # The worker talks to Redis through the proxy; the gateway directly.
    p = pipelines.make(redis_url, postgres_url, {})
    try:
        (tmp_path / "dir.csv").write_text(f"msisdn,client_group,independent\n{n},lmt,true\n")
        p.ctl("subscribers", "import", str(tmp_path / "dir.csv"))
        p.gateway()
        p.env = {**p.env, "SMSGW_REDIS__URL": proxy.url}
        p.worker()
        assert sim.wait_for_bind(20), p.logs()[-3000:]
        assert wait_until(lambda: "Listening on" in p.logs(), 20), p.logs()[-3000:]

        proxy.cut_answer_to(b"BLMOVE", hold_s=3.0)
        sim.send_mo(n, "VIETA")
        assert wait_until(lambda: len(sim.replies_for(n)) >= 1, 40), p.logs()[-3000:]
        assert proxy.cuts == 1
        assert "worker.job_recovered" in p.logs()
        assert [row.text for row in events_of(postgres_url, n)] == ["VIETA"]
        assert len(sim.replies_for(n)) == 1
    finally:
        pipelines.stop()
        proxy.close()
