"""Parts of long texts, held in Redis until their set is whole, so that any gateway instance
completes a set whose parts an SMSC spread over several binds, and no held part dies with
the instance that received it.

A set is one hash per (number, reference, total, reference width) — the key of
``consent_core.concat.part_key`` — plus its place in one sorted index of when it is *due*:

- ``hold`` (one Lua script per part, so atomic) keeps the first copy of each part. The
  part is then acknowledged by the gateway (after the same ``WAIT`` as whole texts). The
  part that makes the set whole *claims* it for its instance in the same script and gets
  every part back; that instance queues the text.
- ``claim_due``: a set not whole after ``gateway.concat_timeout``, or claimed but not
  queued within ``CLAIM_TTL`` (its instance died or lost Redis), is claimed by whichever
  instance looks next and queued — as received, or whole.
- Queueing (``EventQueue.enqueue``) watches the set and turns it into a *tombstone* in the
  same transaction as the job, so exactly one claim ever becomes a text. The tombstone
  keeps each part's digest for the redelivery window: a part the SMSC delivers again after
  its set was queued is recognised and acknowledged, not held as a new set.

The scripts name set keys read from the index (``claim_due``) without passing them as
KEYS: right on one Redis and under Sentinel, not on Redis Cluster (which RQ does not
support either).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import redis

from consent_core.concat import Concat, join_parts
from consent_queue.keys import Keys

# How long a claim protects a set before another instance may take it over. Between the
# claim and the queueing transaction lie a few Redis round trips and, with
# redis.min_replicas_ack, one WAIT (redis.wait_timeout_ms): seconds are ample, and an
# instance that died leaves its claimed sets waiting no longer than this.
CLAIM_TTL = 10.0
SWEEP_LIMIT = 100  # sets claimed per look at the index

# KEYS: set, due. ARGV: part number, part (JSON), digest, total, timeout s, token, claim s.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local field = 'p' .. ARGV[1]
local state = redis.call('HGET', KEYS[1], '_state')
if state == 'done' then
  if redis.call('HGET', KEYS[1], 'd' .. ARGV[1]) == ARGV[3] then return {'duplicate'} end
  redis.call('DEL', KEYS[1])
  state = false
end
if state == 'claimed' then
  if redis.call('HEXISTS', KEYS[1], field) == 1 then return {'duplicate'} end
  return {'busy'}
end
if not state then
  redis.call('HSET', KEYS[1], '_state', 'open', '_n', 0)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), KEYS[1])
end
if redis.call('HSETNX', KEYS[1], field, ARGV[2]) == 0 then return {'duplicate'} end
local n = redis.call('HINCRBY', KEYS[1], '_n', 1)
if n < tonumber(ARGV[4]) then return {'held'} end
redis.call('HSET', KEYS[1], '_state', 'claimed', '_token', ARGV[6])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[7]), KEYS[1])
return {'complete', redis.call('HGETALL', KEYS[1])}
"""

# KEYS: due. ARGV: token, claim s, limit. Claims every set whose time has come.
_CLAIM_DUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,
                                'LIMIT', 0, tonumber(ARGV[3]))) do
  local state = redis.call('HGET', key, '_state')
  if state == 'open' or state == 'claimed' then
    redis.call('HSET', key, '_state', 'claimed', '_token', ARGV[1])
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), key)
    table.insert(out, {key, state, redis.call('HGETALL', key)})
  else
    redis.call('ZREM', KEYS[1], key)
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class Part:
    """One part as received: enough to build the text's event from whichever instance
    queues it."""

    seq: int  # its number in the set, 1-based
    text: str  # decoded (an edge surrogate of a split pair kept: join_parts mends it)
    data_coding: int
    body_hex: str  # the deliver_sm body, for the ledger's raw octets
    digest: str  # coding and octets: the same part delivered again has the same digest
    at: float  # wall clock of arrival
    smsc: dict[str, Any] = field(default_factory=dict)  # the deliver_sm's addressing

    def to_json(self) -> str:
        # ensure_ascii keeps a lone surrogate as \\udxxx, which json.loads gives back
        return json.dumps({"s": self.seq, "t": self.text, "dc": self.data_coding,
                           "b": self.body_hex, "d": self.digest, "at": self.at,
                           "sm": self.smsc}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Part:
        d = json.loads(raw)
        return cls(int(d["s"]), str(d["t"]), int(d["dc"]), str(d["b"]), str(d["d"]),
                   float(d["at"]), dict(d.get("sm") or {}))


class HowClaimed(StrEnum):
    COMPLETED = "completed"  # its last part came here
    EXPIRED = "expired"  # not whole after gateway.concat_timeout
    CLAIMED = "claimed"  # taken over from an instance that did not queue it in time


@dataclass(frozen=True, slots=True)
class HeldSet:
    """A set claimed by this instance, to be queued as one text."""

    key: str
    msisdn: str
    ref: int
    total: int
    parts: tuple[Part, ...]  # in part order; gaps when it expired incomplete
    token: str
    how: HowClaimed

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.total

    @property
    def text(self) -> str:
        return join_parts(p.text for p in self.parts)


class HoldStatus(StrEnum):
    """What became of one part (the hold script's answer)."""

    HELD = "held"  # acknowledge it
    DUPLICATE = "duplicate"  # held before: acknowledge it
    BUSY = "busy"  # its set is being queued without it: the temporary error, so the SMSC
    # brings it again
    COMPLETE = "complete"  # held, and its set is this instance's to queue


@dataclass(frozen=True, slots=True)
class HoldResult:
    """What became of one part; ``completed`` is the set when ``status`` is ``COMPLETE``."""

    status: HoldStatus
    completed: HeldSet | None = None


class PartStore:
    def __init__(self, client: redis.Redis, keys: Keys, *, timeout: float, instance: str,
                 claim_ttl: float = CLAIM_TTL) -> None:
        self._r = client
        self._keys = keys
        self._timeout = timeout
        self._claim_ttl = claim_ttl
        self._instance = instance
        self._hold = client.register_script(_HOLD)
        self._claim_due = client.register_script(_CLAIM_DUE)

    def hold(self, parts: Sequence[tuple[str, Concat, Part]]) -> list[HoldResult]:
        """Hold each (number, concatenation IE, part); raises a redis error when Redis
        cannot be reached (then treat none as held)."""
        if not parts:
            return []
        tokens = []
        with self._r.pipeline(transaction=False) as p:
            for msisdn, concat, part in parts:
                token = self._token()
                tokens.append(token)
                self._hold(keys=[self._set_key(msisdn, concat), self._keys.parts_due],
                           args=[concat.seq, part.to_json(), part.digest, concat.total,
                                 self._timeout, token, self._claim_ttl], client=p)
            replies = p.execute()
        out = []
        for (msisdn, concat, _part), token, reply in zip(parts, tokens, replies, strict=True):
            status = HoldStatus(_s(reply[0]))
            if status != HoldStatus.COMPLETE:
                out.append(HoldResult(status))
                continue
            key = self._set_key(msisdn, concat)
            out.append(HoldResult(status, _held_set(key, msisdn, concat.ref, concat.total,
                                                    reply[1], token,
                                                    HowClaimed.COMPLETED)))
        return out

    def claim_due(self, limit: int = SWEEP_LIMIT) -> list[HeldSet]:
        """Claim every set whose time has come (not whole after the timeout, or claimed by
        an instance that did not queue it in time)."""
        token = self._token()
        found = self._claim_due(keys=[self._keys.parts_due],
                                args=[token, self._claim_ttl, limit])
        out = []
        for raw_key, state, fields in found:
            key = _s(raw_key)
            _, msisdn, _bits, ref, total = key.rsplit(":", 4)
            how = HowClaimed.CLAIMED if _s(state) == "claimed" else HowClaimed.EXPIRED
            out.append(_held_set(key, msisdn, int(ref), int(total), fields, token, how))
        return out

    def _set_key(self, msisdn: str, concat: Concat) -> str:
        return self._keys.parts_set(msisdn, concat.ref, concat.total, concat.ref_bits)

    def _token(self) -> str:
        return f"{self._instance}:{uuid.uuid4().hex[:12]}"


def settle(p: Any, keys: Keys, held: HeldSet, done_ttl: int) -> None:
    """In the queueing transaction: the set becomes a tombstone of its parts' digests,
    kept ``done_ttl`` seconds, and leaves the index."""
    p.delete(held.key)
    p.hset(held.key, mapping={"_state": "done",
                              **{f"d{part.seq}": part.digest for part in held.parts}})
    p.expire(held.key, done_ttl)
    p.zrem(keys.parts_due, held.key)


def _held_set(key: str, msisdn: str, ref: int, total: int, flat: list[Any], token: str,
              how: HowClaimed) -> HeldSet:
    fields = dict(zip((_s(x) for x in flat[0::2]), flat[1::2], strict=True))
    parts = sorted((Part.from_json(v) for k, v in fields.items() if k.startswith("p")),
                   key=lambda part: part.seq)
    return HeldSet(key, msisdn, ref, total, tuple(parts), token, how)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
