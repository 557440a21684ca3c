"""Shared fixtures: real Redis and PostgreSQL servers (own throwaway ones unless told)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

from smsc_sim.threaded import SimulatorThread
from tests.support import servers

# Hypothesis's per-example deadline is a timed assertion: on a loaded 2-core CI host a
# pure function that takes 5 ms alone can take 300 ms. Speed is measured by benchmarks.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.RedisServer | None]:
    """Our own redis-server, or None when TEST_REDIS_URL names one to use."""
    if os.environ.get("TEST_REDIS_URL"):
        yield None
        return
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-redis-"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def redis_base_url(redis_server: servers.RedisServer | None) -> str:
    """Under pytest-xdist a tester's own Redis is shared: each test process takes its own
    database number so that one process's FLUSHDB never empties another's."""
    given = os.environ.get("TEST_REDIS_URL")
    if not given:
        return redis_server.url  # type: ignore[union-attr]
    return servers.redis_db_for_worker(given, os.environ.get("PYTEST_XDIST_WORKER", ""))


@pytest.fixture
def redis_url(redis_base_url: str) -> Iterator[str]:
    """A Redis URL whose database is empty at the start of the test.

    The emptying client waits up to 30 s for an answer, not redis-py's 5: on a loaded
    host Redis's AOF write can stall behind the disk for seconds (seen once at a teardown
    during durable PostgreSQL tests), and a harness's clean-up is not what a test checks."""
    client = redis.Redis.from_url(redis_base_url, socket_timeout=30)
    client.flushdb()
    yield redis_base_url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    env = os.environ.get("TEST_DATABASE_URL")
    if env:
        if env.startswith("postgresql://"):
            env = "postgresql+psycopg://" + env[len("postgresql://"):]
        yield env
        return
    srv = servers.PostgresServer(dir=servers.new_tempdir("smsgw-pg-"))
    srv.init()
    srv.start()
    yield srv.admin_url
    srv.stop("immediate")


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"smsgw_test_{uuid.uuid4().hex[:12]}"
    url = servers.create_database(postgres_admin_url, name)
    yield url
    servers.drop_database(postgres_admin_url, name)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/consents.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs once on SQLite and once on a real PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """The SMSC simulator on a free port, in this process (the gateway runs as a process)."""
    s = SimulatorThread(port=0).start()
    yield s
    s.stop()
