"""Redis persistence is checked by every writer: a Redis without AOF is refused at start
(unless explicitly allowed, then warned about and reported), and consentctl status shows it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_queue.persistence import judge
from tests.ctl.test_jobs_status import N1, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until


@pytest.mark.parametrize(("info", "ok", "names"), [
    ({"aof_enabled": 1, "aof_last_write_status": "ok"}, True, None),
    ({"aof_enabled": 0, "aof_last_write_status": "ok"}, False, "appendonly"),
    ({"aof_enabled": 1, "aof_last_write_status": "err"}, False, "aof_last_write_status"),
    ({}, False, "appendonly"),  # a Redis that says nothing about AOF is not trusted
])
def test_judge_reads_info_persistence(info: dict[str, object], ok: bool,
                                      names: str | None) -> None:
    verdict = judge(info)
    assert verdict.ok is ok
    assert (verdict.problem() is None) if names is None else (names in (verdict.problem() or ""))


@pytest.fixture
def volatile_redis() -> Iterator[servers.RedisServer]:
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-volatile-"), appendonly=False)
    srv.start()
    yield srv
    srv.stop()


def _pipeline(tmp_path: Path, url: str, **redis: object) -> Pipeline:
    p = Pipeline(tmp_path, servers.free_port(), url, f"sqlite:///{tmp_path}/c.db",
                 overrides={"redis": dict(redis)})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    return p


def test_worker_refuses_a_redis_without_aof_in_one_line_naming_appendonly(
        tmp_path: Path, volatile_redis: servers.RedisServer) -> None:
    p = _pipeline(tmp_path, volatile_redis.url, require_persistence=True)
    queue_texts(volatile_redis.url, [event(N1, "VIETA", 1)], "b1")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 2
    refusal = [line for line in worker.log().splitlines() if line.startswith("consent-worker:")]
    assert len(refusal) == 1 and "appendonly" in refusal[0], worker.log()[-2000:]
    # Nothing was taken from the queue: the text waits for a Redis that keeps it.
    assert json.loads(p.ctl("status", "--json", check=False).stdout)["queues"][
        "consent-events-0"]["waiting"] == 1


def test_override_runs_with_a_warning_and_reports_it(
        tmp_path: Path, volatile_redis: servers.RedisServer) -> None:
    port = servers.free_port()
    p = Pipeline(tmp_path, servers.free_port(), volatile_redis.url, f"sqlite:///{tmp_path}/c.db",
                 overrides={"redis": {"require_persistence": False, "persistence_check_interval": 1},
                            "metrics": {"worker_port": port}})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    worker = p.worker()
    metrics = f"http://127.0.0.1:{port}"

    def scrape(path: str) -> str:
        try:
            with urllib.request.urlopen(metrics + path, timeout=2) as r:  # noqa: S310 (loopback)
                return str(r.read().decode())
        except OSError as exc:  # 503 while unhealthy: the body still says why
            return str(getattr(exc, "read", lambda: b"")().decode())

    assert wait_until(lambda: "smsgw_redis_aof_enabled 0.0" in scrape("/metrics"), 30), \
        worker.log()[-2000:]
    assert '"redis_persistent": false' in scrape("/healthz")
    assert "redis.not_persistent" in worker.log()
    queue_texts(volatile_redis.url, [event(N1, "VIETA", 1)], "b1")
    assert wait_until(lambda: json.loads(p.ctl("show", N1, "--json").stdout)["consents"]
                      ["VIETA"]["status"] == "given", 30)
    status = json.loads(p.ctl("status", "--json", check=False).stdout)
    assert status["redis"]["persistence"]["ok"] is False
    assert "appendonly" in status["redis"]["persistence"]["problem"]
    assert "persistence: AT RISK" in p.ctl("status", check=False).stdout
    p.stop()


def test_status_shows_aof_on(tmp_path: Path) -> None:
    srv = servers.RedisServer(dir=servers.new_tempdir("smsgw-durable-"), appendonly=True)
    srv.start()
    try:
        p = _pipeline(tmp_path, srv.url)
        status = json.loads(p.ctl("status", "--json", check=False).stdout)
        assert status["redis"]["persistence"]["ok"] is True
        assert "persistence: AOF on" in p.ctl("status", check=False).stdout
    finally:
        srv.stop()
