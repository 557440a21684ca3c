"""Redis key and RQ queue names. Every key starts with the configured prefix."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

# Job functions are enqueued by name so the gateway never imports worker code.
APPLY_EVENTS_JOB = "workers.jobs.apply_events"
RECORD_DELIVERIES_JOB = "workers.jobs.record_deliveries"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str
    queue_name: str
    shards: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Keys:
        """The keys of the configured prefix, queue name and shard count (every process
        builds them here)."""
        return cls(settings.redis.key_prefix, settings.queue.name, settings.queue.shards)

    def shard_of(self, msisdn: str) -> int:
        """Stable shard of a number: all of a number's events go through one queue."""
        if self.shards == 1:
            return 0
        return zlib.crc32(msisdn.encode()) % self.shards

    def event_queue(self, shard: int) -> str:
        return f"{self.queue_name}-{shard}"

    @property
    def rq_queues(self) -> list[str]:
        """Every RQ queue in use: the event shards in order (delivery updates ride in them)."""
        return [self.event_queue(s) for s in range(self.shards)]

    @property
    def replies(self) -> str:
        return f"{self.prefix}:replies"

    def inflight(self, instance: str) -> str:
        return f"{self.prefix}:replies:inflight:{instance}"

    def pending(self, msisdn: str) -> str:
        """Events of a number queued but not yet acknowledged to the SMSC."""
        return f"{self.prefix}:pending:{msisdn}"

    def latest(self, msisdn: str) -> str:
        """``event_id|arrival`` of the number's queued text that arrived last (redelivery rule)."""
        return f"{self.prefix}:latest:{msisdn}"

    def sequence(self, msisdn: str) -> str:
        """A number's last ingest sequence, assigned where its texts meet (events.py)."""
        return f"{self.prefix}:seq:{msisdn}"

    def parts_set(self, msisdn: str, ref: int, total: int, ref_bits: int) -> str:
        """The held parts of one long text (consent_queue/parts.py), keyed as
        consent_core.concat.part_key: number, reference, total, reference width."""
        return f"{self.prefix}:parts:{msisdn}:{ref_bits}:{ref}:{total}"

    @property
    def parts_due(self) -> str:
        """Sets of parts by the time they are due to be queued by whichever instance looks."""
        return f"{self.prefix}:parts:due"

    @property
    def replicated(self) -> str:
        """Written just before each WAIT, so the WAIT covers every earlier write (events.py)."""
        return f"{self.prefix}:replicated"

    def replied(self, event_id: str) -> str:
        return f"{self.prefix}:replied:{event_id}"

    def outcome(self, event_id: str) -> str:
        """The outcome of a change queued by the API or console (consent_queue/outcomes.py)."""
        return f"{self.prefix}:outcome:{event_id}"

    def absorbed(self, job_id: str) -> str:
        """Jobs a running apply job took along from its queue (workers/jobs.py)."""
        return f"{self.prefix}:absorbed:{job_id}"

    @property
    def backlog_in(self) -> str:
        """Texts queued so far (consent_queue/backlog.py)."""
        return f"{self.prefix}:backlog:in"

    @property
    def backlog_out(self) -> str:
        """Texts of jobs applied (or given up) so far."""
        return f"{self.prefix}:backlog:out"

    @property
    def backlog_done_prefix(self) -> str:
        return f"{self.prefix}:backlog:done:"

    def shard_lock(self, shard: int) -> str:
        return f"{self.prefix}:shard-lock:{shard}"

    def link_state(self, instance: str) -> str:
        return f"{self.prefix}:gateway:{instance}"

    @property
    def gateways(self) -> str:
        return f"{self.prefix}:gateways"
