"""``consentctl status`` exit codes against the real processes: 0 only when the SMPP link is
bound and every shard has a worker; 7 (degraded) when a worker is gone; the reasons listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import wait_until

pytestmark = pytest.mark.e2e


def status(p) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    res = p.ctl("status", "--json", check=False)
    return res.returncode, json.loads(res.stdout)


def test_status_is_0_when_healthy_and_7_when_a_shard_has_no_worker(
        sqlite_url: str, make_pipeline, sim: SimulatorThread, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = make_pipeline(sqlite_url, queue={"shards": 2})
    p.gateway()
    p.worker("--shard", "0", name="worker0")
    w1 = p.worker("--shard", "1", name="worker1")
    assert wait_until(lambda: status(p)[0] == 0, 30), status(p)
    _, report = status(p)
    assert report["problems"] == []
    text = p.ctl("status", check=False).stdout
    assert "Health: ok" in text

    assert w1.terminate() == 0
    assert wait_until(lambda: status(p)[0] == 7, 20), status(p)
    assert status(p)[1]["problems"] == ["shard 1 (consent-events-1): no worker"]
    text = p.ctl("status", check=False).stdout
    assert "Health: DEGRADED\n  shard 1 (consent-events-1): no worker" in text
