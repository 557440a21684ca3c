"""redis.min_replicas_ack: a batch counts as queued only once that many replicas hold it
(WAIT); fewer in time is the temporary error, and the SMSC's redelivery of those texts,
on any connection, is recognised instead of being queued twice. Real primary and replica."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from consent_queue.events import EventQueue, JobOptions, ReplicasBehind
from consent_queue.keys import Keys
from tests.ctl.test_jobs_status import N1, event
from tests.support import servers

KEYS = Keys("smsgw", "consent-events", 1)


@pytest.fixture
def primary_with_replica() -> Iterator[tuple[servers.RedisServer, servers.RedisServer]]:
    primary, replica = servers.primary_and_replica("wait")
    yield primary, replica
    replica.stop()
    primary.stop()


def _queue(client: redis.Redis, wanted: int) -> EventQueue:
    return EventQueue(client, KEYS, JobOptions(retry_max=0, min_replicas_ack=wanted,
                                               wait_timeout_ms=300))


def _jobs(client: redis.Redis) -> int:
    return int(client.llen("rq:queue:consent-events-0"))


def test_batch_held_by_the_replica_is_queued(
        primary_with_replica: tuple[servers.RedisServer, servers.RedisServer]) -> None:
    primary, replica = primary_with_replica
    client = redis.Redis.from_url(primary.url)
    _queue(client, 1).enqueue([event(N1, "VIETA", 1)], [], batch_id="b1", conn_id="c1")
    assert _jobs(client) == 1
    assert redis.Redis(port=replica.port).llen("rq:queue:consent-events-0") == 1


def test_too_few_replicas_is_the_temporary_error_and_the_redelivery_is_recognised(
        primary_with_replica: tuple[servers.RedisServer, servers.RedisServer]) -> None:
    primary, _ = primary_with_replica
    client = redis.Redis.from_url(primary.url)
    text = event(N1, "VIETA", 1)
    text.fingerprint = "5669657461"  # the gateway's form: a hex digest of the octets
    with pytest.raises(ReplicasBehind, match="1 of 2 replicas"):
        _queue(client, 2).enqueue([text], [], batch_id="b1", conn_id="c1")
    assert _jobs(client) == 1  # it is in the primary and will be applied once
    # The SMSC redelivers on the same connection: recognised, acknowledged, not queued.
    again = event(N1, "VIETA", 1)
    again.fingerprint = text.fingerprint
    _queue(client, 1).enqueue([again], [], batch_id="b2", conn_id="c1")
    assert again.duplicate is True
    assert _jobs(client) == 1


def test_without_the_setting_nothing_waits(
        primary_with_replica: tuple[servers.RedisServer, servers.RedisServer]) -> None:
    primary, replica = primary_with_replica
    replica.stop()  # no replica at all: still queued at once
    client = redis.Redis.from_url(primary.url)
    _queue(client, 0).enqueue([event(N1, "VIETA", 1)], [], batch_id="b1", conn_id="c1")
    assert _jobs(client) == 1
