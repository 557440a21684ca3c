"""What one batch's enqueue costs, with and without redis.min_replicas_ack = 1: 1,000
batches of 10 texts through EventQueue.enqueue against a throwaway primary and replica on
loopback. Usage (repository root, after make venv): .venv/bin/python -m scripts.enqueue_cost"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime

import redis

from consent_core.changes import ChangeRequest
from consent_queue.events import EventQueue, JobOptions, QueuedText
from consent_queue.keys import Keys
from tests.support import servers

BATCHES, TEXTS = 1000, 10


def main() -> None:
    primary, replica = servers.primary_and_replica("enqueue-cost")
    client = redis.Redis.from_url(primary.url)
    try:
        for wanted in (0, 1):
            q = EventQueue(client, Keys("smsgw", "consent-events", 2),
                           JobOptions(retry_max=0, min_replicas_ack=wanted))
            took = []
            for b in range(BATCHES):
                texts = [QueuedText(ChangeRequest(
                    event_id=uuid.uuid4().hex, msisdn=f"3712900{(b * TEXTS + i) % 5000:04d}",
                    action="give", consent="VIETA", channel="sms",
                    received_at=datetime.now(UTC), text="VIETA"), fingerprint=uuid.uuid4().hex)
                    for i in range(TEXTS)]
                start = time.perf_counter()
                q.enqueue(texts, [], uuid.uuid4().hex, "c1")
                took.append(time.perf_counter() - start)
            client.flushall()
            took.sort()
            print(f"min_replicas_ack={wanted}: {TEXTS}-text batch p50 "
                  f"{statistics.median(took) * 1000:.2f} ms, p99 "
                  f"{took[int(len(took) * 0.99)] * 1000:.2f} ms")
    finally:
        replica.stop()
        primary.stop()


if __name__ == "__main__":
    main()
