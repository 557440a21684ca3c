"""After a batch's commit, its replies, awaited outcomes and backlog count go to Redis in
one round trip (workers/jobs.py ``_after_commit``) — also when Redis has forgotten the
Lua scripts of that round trip (a restart, ``SCRIPT FLUSH``)."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from tests.ctl.test_jobs_status import N1, N2, event, queue_texts
from tests.workers.test_absorb import ready


def test_replies_and_backlog_are_recorded_when_redis_forgot_the_scripts(
        tmp_path: Path, redis_url: str) -> None:
    p = ready(tmp_path, redis_url)
    client = redis.Redis.from_url(redis_url)
    queue_texts(redis_url, [event(N1, "VIETA", 1), event(N2, "AUTO", 1)], "b0")
    client.script_flush()
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    replies = [json.loads(r) for r in client.lrange("smsgw:replies", 0, -1)]
    assert sorted(r["msisdn"] for r in replies) == [N1, N2]
    assert int(client.get("smsgw:backlog:out") or 0) == 2
    assert int(client.get("smsgw:backlog:in") or 0) == 2
    assert "backlog.not_counted" not in worker.log()
    client.close()
