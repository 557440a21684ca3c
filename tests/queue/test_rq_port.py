"""The contract of consent_queue/rq_port.py, the one module below RQ's public API, checked
against the RQ installed — run it under each version the pins allow (docs/design.md,
"RQ": which versions were tried and the command). Real Redis, real RQ workers in-process.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import redis
from packaging.requirements import Requirement
from rq import Queue, Retry
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from consent_queue import rq_port
from tests.support import servers

HERE = "tests.queue.test_rq_port"
ROOT = Path(__file__).resolve().parents[2]


def ok() -> str:
    return "ok"


def fail() -> None:
    raise ValueError("this job fails")


def count_runs() -> None:
    """Counts its runs; on its first, does what a worker that died under it leaves behind
    happen: recover_abandoned finds it started and puts it back."""
    from rq import get_current_job

    job = get_current_job()
    assert job is not None
    if job.connection.incr(f"runs:{job.id}") == 1:
        queue = Queue(job.origin, connection=job.connection, serializer=JSONSerializer)
        assert rq_port.recover_abandoned(job.connection, [queue]) == 1


STOP_REDIS: list[servers.RedisServer] = []


def stop_redis() -> None:
    STOP_REDIS[0].kill9()


class Recorder(rq_port.PortWorker):
    failures: list[tuple[str, bool]]

    def job_failed(self, job: Job, queue: Queue, retry: bool) -> None:
        self.failures.append((job.id, retry))


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def queue(client: redis.Redis, name: str = "shard") -> Queue:
    return Queue(name, connection=client, serializer=JSONSerializer)


def burst(client: redis.Redis, q: Queue, cls: type[rq_port.PortWorker] = Recorder,
          **work: Any) -> tuple[rq_port.PortWorker, BaseException | None]:
    worker = cls([q], connection=client, serializer=JSONSerializer)
    if isinstance(worker, Recorder):
        worker.failures = []
    return worker, rq_port.run_loop(worker, burst=True, **work)


def test_installed_rq_is_one_the_pins_allow() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    rq_pin = next(Requirement(p) for p in pins if Requirement(p).name == "rq")
    assert rq_pin.specifier.contains(version("rq")), (version("rq"), str(rq_pin))


def test_key_names_are_those_rq_writes(client: redis.Redis) -> None:
    q = queue(client)
    first = q.enqueue(f"{HERE}.fail", retry=None)
    q.enqueue(f"{HERE}.ok")
    assert client.lrange(rq_port.queue_key("shard"), 0, -1) == [
        j.encode() for j in q.get_job_ids()]
    assert client.exists(rq_port.job_key(first.id)) == 1
    worker = Recorder([q], connection=client, serializer=JSONSerializer)
    worker.failures = []
    assert rq_port.run_loop(worker, burst=True, max_jobs=1) is None
    assert client.zrange(rq_port.failed_registry_key("shard"), 0, -1) == [first.id.encode()]


def test_queue_figures_count_waiting_and_failed_and_read_the_head_job(
        client: redis.Redis) -> None:
    q = queue(client)
    q.enqueue(f"{HERE}.fail")
    burst(client, q)
    head = q.enqueue(f"{HERE}.ok")
    q.enqueue(f"{HERE}.ok")
    figures = rq_port.queue_figures(client, ["shard", "empty"])
    assert [(f.waiting, f.failed) for f in figures] == [(2, 1), (0, 0)]
    assert figures[1].head_enqueued_at is None
    at = figures[0].head_enqueued_at
    assert at is not None and head.enqueued_at is not None
    parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    assert parsed.replace(tzinfo=UTC) == head.enqueued_at.replace(tzinfo=UTC)


def test_a_dequeued_job_is_in_the_safety_list_and_put_back_at_the_front(
        client: redis.Redis) -> None:
    q = queue(client)
    a, b = q.enqueue(f"{HERE}.ok"), q.enqueue(f"{HERE}.ok")
    taken = Queue.dequeue_any([q], None, connection=client, serializer=JSONSerializer)
    assert taken is not None and taken[0].id == a.id
    assert client.lrange(rq_port.safety_list_key("shard"), 0, -1) == [a.id.encode()]
    assert rq_port.put_back_taken(client, q) == 1
    assert q.get_job_ids() == [a.id, b.id]
    assert client.llen(rq_port.safety_list_key("shard")) == 0


def test_a_started_job_of_a_dead_worker_is_run_again_and_forgotten_as_started(
        client: redis.Redis) -> None:
    q = queue(client)
    job = q.enqueue(f"{HERE}.count_runs")
    _, error = burst(client, q)
    assert error is None
    assert int(client.get(f"runs:{job.id}") or 0) == 2
    assert StartedJobRegistry(queue=q).get_job_ids() == []


def test_jobs_taken_along_leave_the_queue_and_come_back_in_order(client: redis.Redis) -> None:
    q = queue(client)
    first, *rest = [q.enqueue(f"{HERE}.ok") for _ in range(3)]
    script = client.register_script(rq_port.ABSORB_JOBS)
    taken = rq_port.take_following(client, script, first, "absorbed", 5)
    assert taken == [first.id, *(j.id for j in rest)]  # ``first`` was not dequeued here
    assert q.get_job_ids() == []
    jobs = [Job.fetch(i, connection=client, serializer=JSONSerializer) for i in taken]
    rq_port.give_back(client, first, jobs, "absorbed")
    assert q.get_job_ids() == taken and client.exists("absorbed") == 0
    rq_port.drop_taken(client, jobs[1:], None)
    assert [client.exists(rq_port.job_key(j.id)) for j in jobs] == [1, 0, 0]


def test_a_failed_run_says_whether_rq_retries_it(client: redis.Redis) -> None:
    q = queue(client)
    job = q.enqueue(f"{HERE}.fail", retry=Retry(max=1))
    worker, _ = burst(client, q)
    assert isinstance(worker, Recorder)
    assert worker.failures == [(job.id, True), (job.id, False)]


def test_a_failed_job_is_retried_at_the_front_of_its_queue(client: redis.Redis) -> None:
    # The shard's order holds only if a retried batch goes before the batches behind it.
    q = queue(client)
    first = q.enqueue(f"{HERE}.fail", retry=Retry(max=1, enqueue_at_front=True))
    second = q.enqueue(f"{HERE}.ok")
    burst(client, q, max_jobs=1)
    assert q.get_job_ids() == [first.id, second.id]


def test_an_unhandled_error_in_rqs_loop_is_returned_not_swallowed(client: redis.Redis) -> None:
    class Broken(Recorder):
        def alive(self, now: float) -> None:
            raise RuntimeError("broken hook")

    q = queue(client)
    q.enqueue(f"{HERE}.ok")
    _, error = burst(client, q, Broken)
    assert isinstance(error, RuntimeError) and not rq_port.is_redis_lost(error)


def test_redis_lost_under_rqs_loop_ends_it_with_that_error_and_no_quitting_line(
        caplog: pytest.LogCaptureFixture) -> None:
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-rqport-redis-"))
    srv.start()
    STOP_REDIS[:] = [srv]
    c = redis.Redis.from_url(srv.url)
    try:
        q = queue(c)
        q.enqueue(f"{HERE}.stop_redis")
        q.enqueue(f"{HERE}.ok")
        with caplog.at_level(logging.INFO, logger="rq.worker"):
            _, error = burst(c, q)
        assert rq_port.is_redis_lost(error), error
        assert not [r for r in caplog.records if "quitting" in r.getMessage()]
    finally:
        c.close()
        srv.stop()
