"""``consentctl jobs failed`` / ``jobs requeue`` and ``consentctl status`` as subprocesses,
against jobs a real ``consent-worker`` failed and a real Redis and database."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support import servers
from tests.support.calendar import away_from_midnight
from tests.support.pipeline import Pipeline

N1, N2 = "37129000011", "37129000012"


@pytest.fixture(autouse=True)
def _rq_leaves_logging_alone() -> Iterator[None]:
    """Importing rq sets the level of its "rq.worker" logger; put it back so tests of our
    logging that run later in this process see the defaults."""
    logger = logging.getLogger("rq.worker")
    level = logger.level
    yield
    logger.setLevel(level)


def event(msisdn: str, text: str, seq: int) -> Any:
    from tests.support.texts import queued_text

    consent, _, stop = text.partition(" ")
    return queued_text(msisdn, text, action="withdraw" if stop else "give", consent=consent,
                       fingerprint=f"{msisdn}|{text}|{seq}")


def queue_texts(redis_url: str, texts: list[Any], batch: str) -> None:
    """Queue as the gateway does, with no RQ retries so a failure is final at once."""
    from consent_queue.events import EventQueue, JobOptions
    from consent_queue.keys import Keys

    client = redis.Redis.from_url(redis_url)
    EventQueue(client, Keys("smsgw", "consent-events", 1), JobOptions(retry_max=0)).enqueue(
        texts, [], batch_id=batch, conn_id="test")
    client.close()


def pipeline(tmp_path: Path, redis_url: str) -> Pipeline:
    # The database exists but has no schema yet: every job fails (SchemaError).
    return Pipeline(tmp_path, servers.free_port(), redis_url, f"sqlite:///{tmp_path}/c.db")


def directory(p: Pipeline, tmp_path: Path) -> None:
    csv = tmp_path / "dir.csv"
    csv.write_text(f"msisdn,client_group\n{N1},lmt\n{N2},lmt\n")
    p.ctl("subscribers", "import", str(csv))


def ctl_json(p: Pipeline, *args: str, code: int = 0) -> Any:
    res = p.ctl(*args, "--json", check=False)
    assert res.returncode == code, res.stderr
    return json.loads(res.stdout)


def test_failed_jobs_are_listed_then_requeued_at_the_front_and_applied(
        tmp_path: Path, redis_url: str) -> None:
    p = pipeline(tmp_path, redis_url)
    queue_texts(redis_url, [event(N1, "VIETA", 1), event(N2, "AUTO", 1)], "b1")
    queue_texts(redis_url, [event(N1, "VIETA STOP", 2)], "b2")
    assert p.ctl("jobs", "failed").stdout.strip() == "no failed jobs"
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]

    failed = ctl_json(p, "jobs", "failed")
    assert [j["id"] for j in failed] == ["b1-0", "b2-0"]
    assert [j["events"] for j in failed] == [2, 1]
    assert all(j["queue"] == "consent-events-0" and j["function"] == "apply_events"
               for j in failed)
    assert all("SchemaError" in j["exception"] and j["failed_at"].endswith("Z") for j in failed)
    table = p.ctl("jobs", "failed").stdout
    assert "b1-0" in table and "consent-events-0" in table and "2 failed" in table

    # A job queued after the failures waits behind the requeued ones.
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    queue_texts(redis_url, [event(N2, "AUTO STOP", 2)], "b3")
    wrong = p.ctl("jobs", "requeue", "no-such-job", check=False)
    assert wrong.returncode == 1 and "not among the failed jobs: no-such-job" in wrong.stdout
    usage = p.ctl("jobs", "requeue", check=False)
    assert usage.returncode == 2 and "--all" in usage.stderr
    out = ctl_json(p, "jobs", "requeue", "--all")
    assert out == {"requeued": [{"id": "b1-0", "queue": "consent-events-0"},
                                {"id": "b2-0", "queue": "consent-events-0"}], "not_found": []}
    client = redis.Redis.from_url(redis_url)
    assert [j.decode() for j in client.lrange("rq:queue:consent-events-0", 0, -1)] == \
        ["b1-0", "b2-0", "b3-0"]
    client.close()
    assert ctl_json(p, "jobs", "failed") == []

    worker = p.worker("--burst", name="worker2")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    assert ctl_json(p, "show", N1)["consents"]["VIETA"]["status"] == "withdrawn"
    assert ctl_json(p, "show", N2)["consents"]["AUTO"]["status"] == "withdrawn"
    assert ctl_json(p, "jobs", "failed") == []


def test_status_counts_queues_failed_jobs_and_today(tmp_path: Path, redis_url: str) -> None:
    away_from_midnight()  # "today" is the machine's: the test must not straddle midnight
    p = pipeline(tmp_path, redis_url)
    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b1")
    assert p.worker("--burst").proc.wait(60) == 0  # type: ignore[union-attr]
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    queue_texts(redis_url, [event(N2, "AUTO", 1), event(N2, "VIETA", 2)], "b2")

    r = ctl_json(p, "status", code=7)  # no gateway, no worker: degraded
    assert r["problems"] == ["no gateway has reported (none running?)",
                             "shard 0 (consent-events-0): no worker"]
    assert r["redis"]["ok"] and r["database"]["ok"]
    assert r["queues"]["consent-events-0"] == {"waiting": 1, "running": 0, "failed": 1}
    assert r["queues"]["replies"] == {"waiting": 0, "sending": 0}
    assert r["failed_jobs"] == 1 and r["workers"] == [] and r["gateways"] == []
    # The failed text is off the backlog (it has its own alarm); the two waiting are on it.
    assert r["backlog"] == {"texts": 2, "bound": 5000}
    assert r["today"] == {}

    p.ctl("jobs", "requeue", "b1-0")
    assert p.worker("--burst", name="worker2").proc.wait(60) == 0  # type: ignore[union-attr]
    r = ctl_json(p, "status", code=7)
    assert r["failed_jobs"] == 0 and r["queues"]["consent-events-0"]["waiting"] == 0
    assert r["backlog"] == {"texts": 0, "bound": 5000}  # the requeued job counts out once
    assert r["today"] == {"VIETA": {"give": 2}, "AUTO": {"give": 1}}
    text = p.ctl("status", check=False).stdout
    assert "Health: DEGRADED\n  no gateway has reported" in text
    assert "Failed jobs: 0" in text and "consent-events-0" in text
    assert "backlog: 0 texts queued, not yet applied (bound 5000)" in text
    assert [line.split() for line in text.splitlines() if line.strip().startswith("VIETA")] \
        == [["VIETA", "2", "2"]]


def test_status_says_what_it_cannot_reach_and_exits_5(tmp_path: Path) -> None:
    dead_redis = f"redis://:hunter2@127.0.0.1:{servers.free_port()}/0"
    p = Pipeline(tmp_path, servers.free_port(), dead_redis,
                 f"postgresql+psycopg://u:dbsecret@127.0.0.1:{servers.free_port()}/x")
    res = p.ctl("status", check=False)
    assert res.returncode == 5
    assert "Redis     redis://:***@127.0.0.1" in res.stdout and "UNREACHABLE" in res.stdout
    assert "database  postgresql+psycopg://u:***@127.0.0.1" in res.stdout
    assert "Queues\n  unknown (Redis unreachable)" in res.stdout
    assert "unknown (database unreachable)" in res.stdout
    assert "hunter2" not in res.stdout + res.stderr and "dbsecret" not in res.stdout + res.stderr

    res = p.ctl("status", "--json", check=False)
    assert res.returncode == 5
    r = json.loads(res.stdout)
    assert r["redis"]["ok"] is False and r["database"]["ok"] is False
    assert r["queues"] is None and r["today"] is None

    res = p.ctl("jobs", "failed", check=False)
    assert res.returncode == 5 and "did not answer" in res.stderr and "hunter2" not in res.stderr


def test_a_backlog_at_its_bound_is_a_problem() -> None:
    from consentctl.status import problems

    report: dict[str, Any] = {
        "gateways": [{"instance": "gw1", "state": "bound", "stale": False}],
        "workers": [{"queues": ["consent-events-0"]}], "redis": {"persistence": None},
        "backlog": {"texts": 5000, "bound": 5000}}
    assert problems(report, 1, lambda s: f"consent-events-{s}") == [
        "backlog at its bound (5000 texts, gateway.max_backlog 5000): new texts are refused "
        "for now"]
    report["backlog"] = {"texts": 4999, "bound": 5000}
    assert problems(report, 1, lambda s: f"consent-events-{s}") == []
