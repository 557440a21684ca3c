"""A worker rides out a Redis outage in its loop: it waits, logs and counts, and serves
the queue again when Redis is back — the same process, however long the outage.

Before, RQ's loop quit on the first Redis error ("found an unhandled exception,
quitting") and the worker lived only because systemd restarted it; an outage longer than
the unit's restart budget then left the shard without a worker. The outage here is that
budget, read from the unit: StartLimitBurst restarts RestartSec apart.
"""

from __future__ import annotations

import configparser
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ctl.test_jobs_status import N1, N2, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.faults

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "consent-worker@.service"


def restart_budget_s() -> float:
    """How long systemd keeps restarting a worker that dies at once on every start."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    burst = int(unit["Unit"]["StartLimitBurst"])
    restart_sec = float(unit["Service"]["RestartSec"])
    return burst * restart_sec


@pytest.fixture
def own_redis() -> Iterator[servers.RedisServer]:
    """A Redis of this test's own (it is killed), with the persistence the tests run
    (AOF, fsync every second)."""
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-outage-redis-"), appendonly=True)
    srv.start()
    yield srv
    srv.stop()


def given(p: Pipeline, msisdn: str, consent: str) -> bool:
    show = p.ctl("show", msisdn, "--json", check=False)
    return show.returncode == 0 and \
        json.loads(show.stdout)["consents"][consent]["status"] == "given"


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_worker_outlives_a_redis_outage_longer_than_systemds_restart_budget(
        tmp_path: Path, own_redis: servers.RedisServer) -> None:
    metrics_port = servers.free_port()
    p = Pipeline(tmp_path, servers.free_port(), own_redis.url, f"sqlite:///{tmp_path}/c.db",
                 {"metrics": {"worker_port": metrics_port}})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    worker = p.worker()
    try:
        queue_texts(own_redis.url, [event(N1, "VIETA", 1)], "before")
        assert wait_until(lambda: given(p, N1, "VIETA"), 30), p.logs()[-3000:]
        assert worker.proc is not None
        pid = worker.proc.pid

        budget = restart_budget_s()
        own_redis.kill9()
        down_since = time.monotonic()
        # The fault itself: Redis stays away for the unit's whole restart budget.
        assert wait_until(lambda: "worker.redis_lost" in worker.log(), 30), worker.log()[-3000:]
        time.sleep(max(0.0, budget + 1 - (time.monotonic() - down_since)))
        assert worker.alive, worker.log()[-3000:]
        own_redis.start()

        queue_texts(own_redis.url, [event(N2, "AUTO", 1)], "after")
        assert wait_until(lambda: given(p, N2, "AUTO"), 60), worker.log()[-3000:]
        assert worker.alive and worker.proc.pid == pid
        log = worker.log()
        assert "worker.redis_back" in log
        assert "unhandled exception" not in log and log.count("worker.started") == 1
        assert metric(metrics_port, "smsgw_worker_redis_outages_total") == 1.0
        assert metric(metrics_port, "smsgw_worker_redis_outage_seconds_total") >= budget - 5
    finally:
        assert worker.terminate() == 0, worker.log()[-3000:]
