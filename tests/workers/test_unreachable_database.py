"""``consent-worker run`` against a database that does not answer: it says so at start,
and /healthz is unhealthy naming the database, instead of a plain ``worker.started``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.test_metrics import _get
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until


def test_worker_says_at_start_that_the_database_is_unreachable(tmp_path: Path,
                                                               redis_url: str) -> None:
    port = servers.free_port()
    dead_db = f"postgresql+psycopg://gw:dbsecret@127.0.0.1:{servers.free_port()}/consents"
    p = Pipeline(tmp_path, servers.free_port(), redis_url, dead_db,
                 {"metrics": {"worker_port": port}})
    w = p.worker()
    try:
        assert wait_until(lambda: "worker.started" in w.log(), 60), w.log()
        events = [json.loads(line) for line in w.log().splitlines() if line.startswith("{")]
        names = [e["event"] for e in events]
        assert names.index("worker.database_unreachable") < names.index("worker.started")
        unreachable = events[names.index("worker.database_unreachable")]
        assert "127.0.0.1" in unreachable["database"] and unreachable["error"]
        assert events[names.index("worker.started")]["database_ok"] is False
        assert "dbsecret" not in w.log()

        code, body = _get(port, "/healthz")
        assert code == 503
        checks = json.loads(body)
        assert checks["database"] is False and checks["redis"] is True
    finally:
        p.stop()
