"""With ``redis.min_replicas_ack`` a worker applies a job only once the replicas hold it
(issue 14's failover: a batch applied from a primary that died before any replica had
it was queued again from the SMSC's redelivery, and applied twice)."""

from __future__ import annotations

from pathlib import Path

from tests.ctl.test_jobs_status import N1, directory, event
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until
from tests.workers.test_deliveries_apart import _events, _queue


def test_a_job_waits_for_a_replica_then_is_applied(tmp_path: Path, postgres_url: str) -> None:
    primary = servers.RedisServer(servers.new_tempdir("smsgw-replica-wait-primary-"))
    replica = servers.RedisServer(servers.new_tempdir("smsgw-replica-wait-replica-"),
                                  replica_of=primary.port)
    primary.start()
    p = Pipeline(tmp_path, servers.free_port(), primary.url, postgres_url,
                 overrides={"redis": {"min_replicas_ack": 1, "wait_timeout_ms": 100}})
    try:
        p.ctl("db", "upgrade")
        directory(p, tmp_path)
        _queue(primary.url, [event(N1, "VIETA", 1)], [], "b0")  # queued with no replica
        p.worker()
        assert wait_until(lambda: "job.replicas_behind" in p.logs(), 30), p.logs()[-3000:]
        assert _texts(p) == []  # not applied while only the primary holds it

        replica.start()
        assert wait_until(lambda: _texts(p) == ["VIETA"], 30), p.logs()[-3000:]
    finally:
        p.stop()
        replica.stop()
        primary.stop()


def _texts(p: Pipeline) -> list[object]:
    """The number's recorded texts; none while ``history`` says it has no events."""
    shown = p.ctl("history", N1, "--json", check=False)
    if shown.returncode == 1 and "no recorded events" in shown.stderr:
        return []
    shown.check_returncode()
    return [e["text"] for e in _events(shown.stdout)]
