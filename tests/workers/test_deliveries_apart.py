"""Delivery updates ride in the events' transaction (issue 15); one the database refuses
must not hold the texts of its batch back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import Queue
from rq.registry import FailedJobRegistry

from consent_core.changes import SubmitResult
from consent_queue.events import EventQueue, JobOptions
from consent_queue.keys import Keys
from tests.ctl.test_jobs_status import N1, directory, event
from tests.support import servers
from tests.support.pipeline import Pipeline


class _Unreadable:
    """A delivery update as no gateway writes it (what an older or broken one might)."""

    def __init__(self, wire: dict[str, object]) -> None:
        self.wire = wire

    def to_wire(self) -> dict[str, object]:
        return self.wire


def _queue(redis_url: str, texts: list[object], deliveries: list[object],
           batch: str) -> None:
    client = redis.Redis.from_url(redis_url)
    EventQueue(client, Keys("smsgw", "consent-events", 1), JobOptions(retry_max=0)).enqueue(
        texts, deliveries, batch_id=batch, conn_id="test")  # type: ignore[arg-type]
    client.close()


def _history(p: Pipeline) -> list[dict[str, object]]:
    return _events(p.ctl("history", N1, "--json").stdout)


def _events(history_json: str) -> list[dict[str, object]]:
    """The events of ``consentctl history --json`` output."""
    data = json.loads(history_json)
    return data if isinstance(data, list) else list(data["events"])


def test_texts_are_applied_and_answered_when_their_batchs_update_is_refused(
        tmp_path: Path, redis_url: str, postgres_url: str) -> None:
    p = Pipeline(tmp_path, servers.free_port(), redis_url, postgres_url)
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    _queue(redis_url, [event(N1, "VIETA", 1)], [], "b0")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    [first] = _history(p)
    # PostgreSQL text cannot hold a NUL (an SMSC's system_id with one, say): refused.
    refused = SubmitResult(str(first["event_id"]), "91", "0x00", datetime.now(UTC),
                           "smsc\x00:2775")
    unreadable = _Unreadable({"kind": "receipt", "message_id": "1", "stat": "DELIVRD",
                              "at": "not a time"})
    _queue(redis_url, [event(N1, "AUTO", 2)], [refused, unreadable], f"b1-{uuid.uuid4().hex}")
    worker = p.worker("--burst", name="worker2")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]

    assert [e["text"] for e in _history(p)] == ["VIETA", "AUTO"]
    logs = p.logs()
    assert "deliveries.apart" in logs and "delivery.unreadable" in logs, logs[-6000:]
    client = redis.Redis.from_url(redis_url)
    # Both texts answered (no gateway here: the replies wait in the queue) ...
    assert client.llen("smsgw:replies") == 2
    # ... and the update that was refused failed on its own, kept for an operator.
    failed = FailedJobRegistry(queue=Queue("consent-events-0", connection=client))
    assert len(failed.get_job_ids()) == 1
    client.close()
