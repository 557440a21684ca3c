"""The reply queue: workers push confirmation texts, gateways take, submit and acknowledge.

A reply is pushed at most once per event (a retried job does not queue it again) and is
subject to the per-number reply limits. A gateway moves replies it takes into its own
in-flight list and removes them only once the SMSC accepted them, so a gateway killed
mid-submit hands them back on restart (at-least-once towards the SMSC; see README
"Guarantees"). The payload is ``Reply``, built with the class, sent with ``dumps`` and read
back with ``loads``; nobody writes the JSON by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from consent_core.instants import iso, parse_instant
from consent_queue.keys import Keys

__all__ = ["Reply", "ReplyQueue"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A confirmation text to send, worker → gateway (the reply queue's payload)."""

    event_id: str
    msisdn: str
    text: str
    correlation_id: str
    received_at: datetime  # of the text it answers, for latency

    def dumps(self) -> str:
        return json.dumps({"event_id": self.event_id, "msisdn": self.msisdn, "text": self.text,
                           "correlation_id": self.correlation_id,
                           "received_at": iso(self.received_at)},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: bytes | str) -> Reply:
        """Raises ``ValueError`` (or ``TypeError``) for what is not a reply."""
        data: dict[str, Any] = json.loads(raw)
        try:
            return cls(str(data["event_id"]), str(data["msisdn"]), str(data["text"]),
                       str(data["correlation_id"]), parse_instant(str(data["received_at"])))
        except KeyError as exc:
            raise ValueError(f"a reply without {exc.args[0]}") from None

# ARGV: prefix, done_ttl, per_minute, per_day, minute_bucket, day_bucket,
#       then (event_id, msisdn, payload) triples. Returns one status per reply.
_PUSH = """
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local per_min, per_day = tonumber(ARGV[3]), tonumber(ARGV[4])
local mb, db = ARGV[5], ARGV[6]
local out = {}
for i = 7, #ARGV, 3 do
  local eid, msisdn, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SET', prefix .. ':replied:' .. eid, '1', 'NX', 'EX', ttl) then
    local mk = prefix .. ':rl:m:' .. msisdn .. ':' .. mb
    local dk = prefix .. ':rl:d:' .. msisdn .. ':' .. db
    local m = redis.call('INCR', mk)
    if m == 1 then redis.call('EXPIRE', mk, 120) end
    local d = redis.call('INCR', dk)
    if d == 1 then redis.call('EXPIRE', dk, 90000) end
    if (per_min > 0 and m > per_min) or (per_day > 0 and d > per_day) then
      table.insert(out, 'limited')
    else
      redis.call('RPUSH', prefix .. ':replies', payload)
      table.insert(out, 'queued')
    end
  else
    table.insert(out, 'duplicate')
  end
end
return out
"""

# KEYS: replies, inflight. ARGV: n. Moves up to n replies into this gateway's in-flight list.
_TAKE = """
local items = redis.call('LPOP', KEYS[1], tonumber(ARGV[1]))
if not items then return {} end
for _, it in ipairs(items) do redis.call('RPUSH', KEYS[2], it) end
return items
"""

# KEYS: replies, inflight[, the instance's status]. Hands every in-flight reply back to the
# head of the queue; with a status key, only when it has expired (the instance silent for
# 60 s: gone), checked in the same script.
_RESTORE = """
if #KEYS >= 3 and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local items = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
redis.call('DEL', KEYS[2])
return #items
"""


class ReplyQueue:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._keys = keys
        self.keys = keys
        self._push = client.register_script(_PUSH)
        self._take = client.register_script(_TAKE)
        self._restore = client.register_script(_RESTORE)

    def push(
        self,
        replies: list[Reply],
        *,
        per_minute: int,
        per_day: int,
        now: float,
        done_ttl: int = 7 * 86400,
    ) -> list[str]:
        """Queue replies; returns per reply ``queued``, ``duplicate`` or ``limited``."""
        if not replies:
            return []
        args = self._push_args(replies, per_minute, per_day, now, done_ttl)
        return self.statuses(self._push(args=args))

    def push_in(self, pipe: redis.client.Pipeline, replies: list[Reply], *, per_minute: int,
                per_day: int, now: float, done_ttl: int = 7 * 86400) -> bool:
        """``push`` as one more command of ``pipe`` (its answer goes through ``statuses``);
        False when there is nothing to push. A plain EVALSHA: redis-py's own script
        pipelining asks SCRIPT EXISTS first, a round trip more (consent_queue/scripts.py)."""
        if not replies:
            return False
        args = self._push_args(replies, per_minute, per_day, now, done_ttl)
        pipe.evalsha(self._push.sha, 0, *args)
        return True

    @staticmethod
    def statuses(answer: Any) -> list[str]:
        return [s.decode() if isinstance(s, bytes) else s for s in answer]

    def _push_args(self, replies: list[Reply], per_minute: int, per_day: int, now: float,
                   done_ttl: int) -> list[Any]:
        args: list[Any] = [self._keys.prefix, done_ttl, per_minute, per_day,
                           int(now // 60), int(now // 86400)]
        for rep in replies:
            args += [rep.event_id, rep.msisdn, rep.dumps()]
        return args

    @property
    def scripts(self) -> list[Any]:
        """The scripts ``push_in`` may send (to load them when Redis forgot them)."""
        return [self._push]

    def take(self, instance: str, n: int) -> list[str]:
        items = self._take(keys=[self._keys.replies, self._keys.inflight(instance)], args=[n])
        return [i.decode() if isinstance(i, bytes) else i for i in items]

    def take_waiting(self, client: redis.Redis, instance: str, timeout: float) -> list[str]:
        """One reply moved into ``instance``'s in-flight list, waiting up to ``timeout``
        seconds for one to come (BLMOVE on ``client``: a connection of its own, whose socket
        timeout allows the wait); [] when none came."""
        # Redis >= 6 takes a fractional timeout; redis-py's stubs say int.
        item = client.blmove(self._keys.replies, self._keys.inflight(instance),
                             timeout, "LEFT", "RIGHT")  # type: ignore[arg-type]
        return [item.decode() if isinstance(item, bytes) else str(item)] if item else []

    def in_flight(self, instance: str) -> list[str]:
        """What ``instance``'s in-flight list holds (taken, not yet accepted by the SMSC)."""
        items = self._r.lrange(self._keys.inflight(instance), 0, -1)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in items]

    def done(self, instance: str, raw: list[str]) -> None:
        if not raw:
            return
        with self._r.pipeline(transaction=False) as p:
            for item in raw:
                p.lrem(self._keys.inflight(instance), 1, item)
            p.execute()

    def restore(self, instance: str) -> int:
        return int(self._restore(keys=[self._keys.replies, self._keys.inflight(instance)]))

    def adopt_gone(self, me: str) -> dict[str, int]:
        """Hand back to the queue the in-flight replies of every other gateway instance that
        is gone (its status, refreshed every 5 s while it runs, expired after 60 s), so a
        host that does not come back strands none. At least once: an instance that was
        only cut off from Redis may still submit what it held."""
        adopted = {}
        for raw in self._r.smembers(self._keys.gateways):
            other = raw.decode() if isinstance(raw, bytes) else str(raw)
            if other == me:
                continue
            n = int(self._restore(keys=[self._keys.replies, self._keys.inflight(other),
                                      self._keys.link_state(other)]))
            if n:
                adopted[other] = n
        return adopted

    def depth(self) -> int:
        return int(self._r.llen(self._keys.replies))
