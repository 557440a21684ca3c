"""Redis Sentinel: a worker and consentctl find the primary through the sentinels and follow
a failover (the primary killed with -9), applying what was queued before and after it."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from config.settings import RedisSettings
from consent_queue.connection import redis_client, redis_where
from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import Keys
from tests.ctl.test_jobs_status import N1, N2, directory, event
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.faults


@dataclass
class SentinelSet:
    primary: servers.RedisServer
    replica: servers.RedisServer
    sentinels: list[servers.Sentinel]

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.sentinels]

    def primary_port(self) -> int | None:
        for s in self.sentinels:
            try:
                found = redis.Redis(port=s.port, socket_timeout=1).execute_command(
                    "SENTINEL", "get-master-addr-by-name", "smsgw")
            except redis.RedisError:
                continue
            if found:
                return int(found[1])
        return None


@pytest.fixture
def sentinel_set() -> Iterator[SentinelSet]:
    d = servers.new_tempdir("smsgw-sentinel-")
    primary, replica = servers.primary_and_replica("sentinel")
    sentinels = [servers.Sentinel(dir=d, primary_port=primary.port) for _ in range(3)]
    for s in sentinels:
        s.start()
    found = SentinelSet(primary, replica, sentinels)
    # Each sentinel must have discovered the replica before a failover can pick it.
    assert wait_until(lambda: all(
        redis.Redis(port=s.port).execute_command("SENTINEL", "replicas", "smsgw")
        for s in sentinels), 20)
    yield found
    for s in sentinels:
        s.stop()
    replica.stop()
    primary.stop()


def _queue(rs: RedisSettings, texts: list[object], batch: str, timeout: float = 30.0) -> None:
    """Queue as a gateway does, retrying while the failover is under way (a gateway answers
    the temporary error meanwhile and the SMSC redelivers)."""
    deadline = time.monotonic() + timeout
    while True:
        client = redis_client(rs)
        try:
            EventQueue(client, Keys("smsgw", "consent-events", 1),
                       JobOptions(retry_max=0)).enqueue(texts, [], batch_id=batch, conn_id="t")
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            client.close()


def test_worker_and_consentctl_follow_a_sentinel_failover(
        tmp_path: Path, sentinel_set: SentinelSet) -> None:
    redis_section = {"url": "redis://sentinel-managed/0", "sentinels": sentinel_set.addresses,
                     "service_name": "smsgw"}
    rs = RedisSettings(**redis_section)  # type: ignore[arg-type]
    assert redis_where(rs).startswith("sentinel:smsgw@127.0.0.1:")
    p = Pipeline(tmp_path, servers.free_port(), "redis://sentinel-managed/0",
                 f"sqlite:///{tmp_path}/c.db", overrides={"redis": redis_section})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    worker = p.worker()

    def status(msisdn: str, consent: str) -> str:
        return str(json.loads(p.ctl("show", msisdn, "--json").stdout)["consents"][consent]
                   ["status"])

    _queue(rs, [event(N1, "VIETA", 1)], "before")
    assert wait_until(lambda: status(N1, "VIETA") == "given", 30), p.logs()[-3000:]
    # Let the replica catch up, then lose the primary without warning.
    redis.Redis(port=sentinel_set.primary.port).execute_command("WAIT", 1, 2000)
    old = sentinel_set.primary.port
    sentinel_set.primary.kill9()
    assert wait_until(lambda: sentinel_set.primary_port() not in (None, old), 30)
    assert sentinel_set.primary_port() == sentinel_set.replica.port

    _queue(rs, [event(N1, "VIETA STOP", 2), event(N2, "AUTO", 1)], "after")
    assert wait_until(lambda: status(N1, "VIETA") == "withdrawn", 60), p.logs()[-3000:]
    assert status(N2, "AUTO") == "given"
    assert worker.alive, "the worker followed the failover instead of exiting"
    history = json.loads(p.ctl("history", N1, "--json").stdout)
    assert [e["text"] for e in history] == ["VIETA", "VIETA STOP"]  # each applied once
    report = json.loads(p.ctl("status", "--json", check=False).stdout)
    assert report["redis"]["ok"] and report["redis"]["url"].startswith("sentinel:smsgw@")
    p.stop()


class _Interrupted(Exception):
    """What RQ's SIGTERM handler raises in a worker waiting in its dequeue."""


def test_a_read_cut_short_does_not_leave_its_reply_for_the_next_command(
        sentinel_set: SentinelSet) -> None:
    """redis-py's Sentinel connection (8.1) keeps a connection whose reply was never read
    (a signal handler raised mid-read) in the pool, so the next command reads the old
    reply. Seen as a worker whose SIGTERM, arriving in its blocking dequeue, hung its
    shutdown behind that BLMOVE; worse, a command can be handed another one's answer. Our
    client disconnects such a connection, as redis-py does for a plain one."""
    rs = RedisSettings(url="redis://sentinel-managed/0",  # type: ignore[arg-type]
                       sentinels=sentinel_set.addresses, service_name="smsgw")
    client = redis_client(rs)
    client.set("probe", "value")

    def interrupt(signum: int, frame: object) -> None:
        raise _Interrupted

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        with pytest.raises(_Interrupted):
            client.blmove("nothing-comes", "elsewhere", 2)  # the server answers after 2 s
        assert client.get("probe") == b"value"  # not the BLMOVE's answer (None)
        time.sleep(2)  # the BLMOVE's late answer must not turn up for a later command
        assert client.get("probe") == b"value"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        client.close()
