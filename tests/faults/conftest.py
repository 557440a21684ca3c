"""Fixtures for the fault-injection suite: servers of its own (the tests stop them), the
simulator in-process, the gateway and the workers as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.support import servers
from tests.support.pipeline import Pipeline, Pipelines

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def own_redis() -> Iterator[servers.RedisServer]:
    """A redis-server with the persistence the README recommends (AOF, fsync every second);
    module-scoped, restarted by the tests that stop it."""
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-faults-redis-"), appendonly=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[servers.PostgresServer]:
    srv = servers.PostgresServer(dir=servers.new_tempdir("smsgw-faults-pg-"))
    srv.init()
    srv.start()
    yield srv
    srv.stop("immediate")


@pytest.fixture
def fresh(own_redis: servers.RedisServer, own_postgres: servers.PostgresServer,
          ) -> Iterator[tuple[str, str]]:
    """(redis url, database url): an empty Redis and a new database for one test."""
    import uuid

    import redis

    if own_redis.proc is None:  # a test that failed while Redis was stopped
        own_redis.start()
    client = redis.Redis.from_url(own_redis.url)
    client.flushall()
    client.close()
    name = f"faults_{uuid.uuid4().hex[:10]}"
    url = servers.create_database(own_postgres.admin_url, name)
    yield own_redis.url, url


@pytest.fixture
def make_pipeline(tmp_path: Path, sim: SimulatorThread, fresh: tuple[str, str]):  # type: ignore[no-untyped-def]
    pipelines = Pipelines(tmp_path, sim.port)

    def make(**overrides: dict) -> Pipeline:  # type: ignore[type-arg]
        return pipelines.make(*fresh, overrides)

    yield make
    pipelines.stop()


@pytest.fixture
def make_shared_pipeline(tmp_path: Path, sim: SimulatorThread, redis_url: str, postgres_url: str):  # type: ignore[no-untyped-def]
    """A pipeline on the session's shared Redis and PostgreSQL (for tests that stop neither)."""
    pipelines = Pipelines(tmp_path, sim.port)

    def make(**overrides: dict) -> Pipeline:  # type: ignore[type-arg]
        return pipelines.make(redis_url, postgres_url, overrides)

    yield make
    pipelines.stop()
