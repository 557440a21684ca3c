"""One path: an API change and a text for the same number travel the same shard queue and
are applied in the order they arrived, whatever the channel (real gateway, simulator,
worker, API)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from smsc_sim.threaded import SimulatorThread
from tests.api.conftest import LMT
from tests.support.pipeline import wait_until

pytestmark = pytest.mark.e2e


def queued(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        return sum(int(client.llen(k)) for k in client.scan_iter("rq:queue:consent-events-*"))
    finally:
        client.close()


def test_text_and_api_change_for_one_number_apply_in_arrival_order(
        postgres_url: str, make_stack: Any, sim: SimulatorThread, redis_url: str) -> None:
    p, api = make_stack(postgres_url, worker=False, change_wait=0.5)
    p.gateway()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    with api.client(api.token("web", "read,write")) as c:
        # The text first, then the web withdrawal: withdrawn in the end.
        sim.send_mo(LMT, "VIETA")
        assert wait_until(lambda: queued(redis_url) == 1, 15)
        r = c.post(f"/v1/numbers/{LMT}/consents/VIETA", json={"action": "withdraw",
                   "channel": "web"}, headers={"Idempotency-Key": "o-1"})
        assert r.status_code == 202
        # The web give first, then the text withdrawal: withdrawn too.
        r = c.post(f"/v1/numbers/{LMT}/consents/AUTO", json={"action": "give",
                   "channel": "web"}, headers={"Idempotency-Key": "o-2"})
        assert r.status_code == 202
        sim.send_mo(LMT, "AUTO STOP")
        assert wait_until(lambda: queued(redis_url) == 4, 15)

        p.worker()
        assert wait_until(lambda: len(sim.replies_for(LMT)) == 2, 30), p.logs()[-3000:]
        events = c.get(f"/v1/numbers/{LMT}/history").json()["events"]
        assert [(e["consent"], e["channel"], e["outcome"]) for e in events] == [
            ("VIETA", "sms", "given"), ("VIETA", "web", "withdrawn"),
            ("AUTO", "web", "given"), ("AUTO", "sms", "withdrawn")]
        state = c.get(f"/v1/numbers/{LMT}/consents").json()["consents"]
        assert state["VIETA"]["status"] == state["AUTO"]["status"] == "withdrawn"
        # Only the texts were answered by SMS.
        assert len(sim.replies_for(LMT)) == 2
