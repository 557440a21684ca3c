"""A worker behind on its shard applies the jobs queued after the current one with it;
a run that died after taking them along loses nothing and applies nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from consent_queue.rq_port import ABSORB_JOBS
from tests.ctl.test_jobs_status import N1, N2, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline


def ready(tmp_path: Path, redis_url: str) -> Pipeline:
    p = Pipeline(tmp_path, servers.free_port(), redis_url, f"sqlite:///{tmp_path}/c.db")
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    return p


def history(p: Pipeline, msisdn: str) -> list[str]:
    data = json.loads(p.ctl("history", msisdn, "--json").stdout)
    events = data if isinstance(data, list) else data["events"]
    return [e["text"] for e in events]


def test_backlog_is_applied_in_queue_order_in_one_run(tmp_path: Path, redis_url: str) -> None:
    p = ready(tmp_path, redis_url)
    for i, text in enumerate(["VIETA", "VIETA STOP", "VIETA", "AUTO"]):
        queue_texts(redis_url, [event(N1, text, i + 1)], f"b{i}")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    assert history(p, N1) == ["VIETA", "VIETA STOP", "VIETA", "AUTO"]
    state = json.loads(p.ctl("show", N1, "--json").stdout)["consents"]
    assert state["VIETA"]["status"] == "given" and state["AUTO"]["status"] == "given"
    client = redis.Redis.from_url(redis_url)
    assert client.keys("smsgw:absorbed:*") == []
    assert client.llen("rq:queue:consent-events-0") == 0
    # One run took all four: the three absorbed jobs are gone, not left queued or finished.
    assert client.exists("rq:job:b1-0", "rq:job:b2-0", "rq:job:b3-0") == 0
    client.close()


def test_jobs_taken_along_by_a_run_that_died_are_applied_once(
        tmp_path: Path, redis_url: str) -> None:
    p = ready(tmp_path, redis_url)
    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b0")
    queue_texts(redis_url, [event(N2, "AUTO", 1)], "b1")
    queue_texts(redis_url, [event(N1, "VIETA STOP", 2)], "b2")
    client = redis.Redis.from_url(redis_url)
    # What a worker killed mid-job leaves: b0 taken from the queue (RQ's safety list) and
    # b1, b2 moved into b0's absorbed list, nothing applied yet.
    client.lrem("rq:queue:consent-events-0", 1, "b0-0")
    client.rpush("rq:queue:consent-events-0:intermediate", "b0-0")
    taken = client.register_script(ABSORB_JOBS)(
        keys=["rq:queue:consent-events-0", "smsgw:absorbed:b0-0"], args=[20])
    assert [t.decode() for t in taken] == ["b1-0", "b2-0"]
    assert client.llen("rq:queue:consent-events-0") == 0

    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    assert history(p, N1) == ["VIETA", "VIETA STOP"]
    assert history(p, N2) == ["AUTO"]
    assert json.loads(p.ctl("show", N1, "--json").stdout)["consents"]["VIETA"]["status"] == \
        "withdrawn"
    assert client.keys("smsgw:absorbed:*") == []
    client.close()
