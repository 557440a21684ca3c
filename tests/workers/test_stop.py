"""A worker listens to no RQ command channel and stops promptly: after its burst, and on
SIGTERM while idle (redis-py 8.2 made RQ's channel thread hold each exit up to 60 s)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import redis

from tests.ctl.test_jobs_status import N1, event, queue_texts
from tests.support.pipeline import wait_until
from tests.workers.test_absorb import ready


def test_an_idle_worker_holds_no_rq_channel_and_stops_on_sigterm(
        tmp_path: Path, redis_url: str) -> None:
    p = ready(tmp_path, redis_url)
    worker = p.worker()
    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b0")

    def applied() -> bool:
        show = p.ctl("show", N1, "--json", check=False)
        return show.returncode == 0 and \
            json.loads(show.stdout)["consents"]["VIETA"]["status"] == "given"

    assert wait_until(applied, 30), p.logs()[-2000:]
    client = redis.Redis.from_url(redis_url)
    assert client.pubsub_channels("rq:pubsub:*") == []
    client.close()
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    # Far below the 60 s the channel thread held it (and below systemd's stop timeout).
    assert worker.proc.wait(20) == 0, p.logs()[-2000:]
