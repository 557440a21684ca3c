"""The backlog: texts queued in Redis and not yet applied by a worker, across all gateways.

Two counters under the prefix: ``backlog:in`` grows in the very transaction that queues a
batch (``EventQueue.enqueue``), ``backlog:out`` grows once per job id when a worker has
applied the job's texts — or when RQ gave the job up for the failed registry, which is
alerted on by itself and must not hold the bound shut for good. The backlog is their
difference. Counting "out" once per job id (a marker set with NX) keeps a retried or
re-run job from counting twice; a job taken along by another (``absorbed``) counts under
its own id.

The gateway refuses texts with the temporary error while the backlog is at or above
``gateway.max_backlog`` (docs/guarantees.md "Backlog"): the SMSC holds them and retries,
so at saturation the wait happens in the SMSC, not in an ever longer Redis queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from consent_queue.keys import Keys

DONE_TTL = 7 * 86400  # a job run again after this long would count twice; RQ keeps less

# KEYS: out counter. ARGV: done-marker prefix, ttl, then (job_id, texts) pairs.
_APPLIED = """
local n = 0
for i = 3, #ARGV, 2 do
  if redis.call('SET', ARGV[1] .. ARGV[i], '1', 'NX', 'EX', tonumber(ARGV[2])) then
    n = n + tonumber(ARGV[i + 1])
  end
end
if n > 0 then redis.call('INCRBY', KEYS[1], n) end
return n
"""


def sms_texts(requests: Iterable[object]) -> int:
    """How many of a job's requests the gateway counted in: its SMS texts."""
    return sum(1 for r in requests if isinstance(r, dict) and r.get("channel") == "sms")


class Backlog:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._keys = keys
        self._applied = client.register_script(_APPLIED)

    def counted_in(self, pipe: redis.client.Pipeline, texts: int) -> None:
        """In the enqueueing transaction: ``texts`` more wait for a worker."""
        if texts:
            pipe.incrby(self._keys.backlog_in, texts)

    def done(self, jobs: Iterable[tuple[str, int]]) -> int:
        """Worker side: these jobs (id, SMS texts) are applied or given up; counts each job
        once whatever happens later. Returns how many texts it took off the backlog."""
        args = self._done_args(jobs)
        if not args:
            return 0
        return int(self._applied(keys=[self._keys.backlog_out], args=args))

    def done_in(self, pipe: redis.client.Pipeline, jobs: Iterable[tuple[str, int]]) -> bool:
        """``done`` as one more command of ``pipe`` (a plain EVALSHA, as
        ``ReplyQueue.push_in``); False when no job had texts to count."""
        args = self._done_args(jobs)
        if not args:
            return False
        pipe.evalsha(self._applied.sha, 1, self._keys.backlog_out, *args)
        return True

    @property
    def scripts(self) -> list[Any]:
        """The scripts ``done_in`` may send."""
        return [self._applied]

    def _done_args(self, jobs: Iterable[tuple[str, int]]) -> list[str | int]:
        args: list[str | int] = [self._keys.backlog_done_prefix, DONE_TTL]
        for job_id, texts in jobs:
            if texts:
                args += [job_id, texts]
        return args if len(args) > 2 else []

    def size(self) -> int:
        """Texts queued and not applied (never below 0: counters reset by hand)."""
        got_in, got_out = self._r.mget([self._keys.backlog_in, self._keys.backlog_out])
        return max(0, int(got_in or 0) - int(got_out or 0))
