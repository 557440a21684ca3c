"""Inbound side of the queue: batches of events become RQ jobs, once, in one transaction.

A text is acknowledged to the SMSC only after the transaction holding its job has been
executed by Redis. Between the two, the text is listed as *pending* for its number under
the SMPP connection that received it. If that connection dies before the acknowledgement,
the SMSC redelivers the text on a later connection; finding it pending under another
connection, we acknowledge it without queueing it again — but only while that cannot
hide a newer text (docs/guarantees.md "Redelivery"), and only within ``pending_ttl``
seconds. A pending entry is *unanswered* when the gateway knows its deliver_sm_resp was
never written (the connection died first): the SMSC must redeliver that text, so it
matches whenever the redelivery comes. Otherwise (the gateway died between answering and
clearing the entry, so the SMSC may have had the answer) it matches only while it is still
the number's latest queued text: a person who types the same command again after sending
something else is never taken for a redelivery. An entry of a batch whose enqueue ended
with its outcome unknown counts as unanswered too (``UnsureEntries``). An unanswered entry
matched after the number's later text is ambiguous (redelivered, or typed again): decided
on the safe side by ``consent_core.arrival.redelivery_verdict`` — a withdrawal is queued,
marked as a possible redelivery of the entry's event; anything else is the redelivery. A
number's latest text is the one that *arrived* last (two instances may queue them out of
order).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from consent_core.arrival import POSSIBLE_REDELIVERY_OF, Redelivery, redelivery_verdict, withdraws
from consent_core.changes import ChangeRequest, DeliveryUpdate
from consent_core.clock import Clock, system_clock
from consent_queue import parts
from consent_queue.backlog import Backlog
from consent_queue.deliveries import DeliverySink
from consent_queue.keys import APPLY_EVENTS_JOB, RECORD_DELIVERIES_JOB, Keys
from consent_queue.parts import HeldSet

# Tries of a batch's transaction when other gateways change the same numbers meanwhile.
MAX_ATTEMPTS = 20
# A number's last sequence is kept this long after its last text. Sequences are Redis's
# clock in microseconds, raised past the last one where needed, so a number silent for a
# day simply starts again from the clock (still above anything it had).
SEQUENCE_TTL = 86400


class EntryState(StrEnum):
    """Where a pending text stands with the SMSC (the last field of its entry)."""

    QUEUED = "q"  # queued; its deliver_sm_resp not yet written
    ACKNOWLEDGED = "a"  # deliver_sm_resp 0 written (perhaps never received)
    UNANSWERED = "u"  # the SMSC never had a positive answer: it redelivers


# The connection of entries re-filed under none (replicas behind: the redelivery may come on
# the very connection that filed them).
NO_CONNECTION = "held"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """A queued text listed under its number until its deliver_sm_resp is written: which
    connection received it, the text as the SMSC sent it, its event and when it was queued
    (milliseconds, Unix time), and its state. In Redis one string,
    ``conn|fingerprint|event_id|seconds.mmm|state``."""

    conn: str
    fingerprint: str
    event_id: str
    at_ms: int
    state: EntryState

    def dumps(self) -> str:
        seconds, ms = divmod(self.at_ms, 1000)
        return f"{self.conn}|{self.fingerprint}|{self.event_id}|{seconds}.{ms:03d}|{self.state}"

    @classmethod
    def loads(cls, raw: str) -> PendingEntry | None:
        """The entry, or None for a string that is not one (never matched, left to expire)."""
        fields = raw.split("|")
        if len(fields) != 5:
            return None
        conn, fp, event_id, at, state = fields
        seconds, _, ms = at.partition(".")
        try:
            return cls(conn, fp, event_id, int(seconds) * 1000 + int((ms + "000")[:3]),
                       EntryState(state))
        except ValueError:
            return None

    def as_state(self, state: EntryState) -> PendingEntry:
        return replace(self, state=state)


@dataclass(slots=True)
class QueuedText:
    """One subscriber text on its way to the queue."""

    request: ChangeRequest  # its ingest_seq is set when the batch's transaction is built
    fingerprint: str  # identifies the text as the SMSC sent it (number, coding, bytes)
    duplicate: bool = False
    held: HeldSet | None = None  # a long text whose parts wait in Redis (parts.py)
    _entry: PendingEntry | None = field(default=None, repr=False)
    # Entries this text had before a refile whose outcome may be unknown (one of them is
    # in Redis, whichever the refile left).
    _earlier: list[PendingEntry] = field(default_factory=list, repr=False)
    # Entries of earlier tries of this enqueue, which may have run (EventQueue.enqueue).
    _tried: list[PendingEntry] = field(default_factory=list, repr=False)

    @property
    def msisdn(self) -> str:
        return self.request.msisdn

    def maybe_pending(self) -> list[PendingEntry]:
        """The pending entries that may stand for this text in Redis now."""
        return [e for e in (self._entry, *self._earlier, *self._tried) if e is not None]


class UnsureEntries:
    """The pending entries of a gateway's texts whose enqueue ended with its outcome
    unknown: Redis stopped, or the link to it broke, after it may have run the transaction.
    The texts got the temporary error, so the SMSC redelivers them, on the same bind or a
    later one. Such an entry, if Redis has it, stands for a text the SMSC never had a
    positive answer for: it matches the redelivery like an unanswered entry (whatever the
    number sent in between), even on the connection that filed it. An entry exists only if
    its transaction ran, so a text that was never queued is simply queued on redelivery.
    An entry names its connection, so one set serves all of a gateway's links.

    Bounded: the oldest are forgotten beyond ``limit`` (their redelivery is then matched,
    if at all, under the latest-text rule)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: dict[PendingEntry, None] = {}
        self._limit = limit

    def add(self, texts: Iterable[QueuedText]) -> None:
        for t in texts:
            for entry in t.maybe_pending():
                self._entries.pop(entry, None)
                self._entries[entry] = None
        while len(self._entries) > self._limit:
            del self._entries[next(iter(self._entries))]

    def __contains__(self, entry: object) -> bool:
        return entry in self._entries

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class JobOptions:
    timeout: int = 60
    retry_max: int = 5
    result_ttl: int = 300
    failure_ttl: int = 30 * 86400
    pending_ttl: int = 600  # seconds a pending text may be matched by a redelivery
    # WAIT for this many replicas to hold a batch before it counts as queued (0 = don't).
    min_replicas_ack: int = 0
    wait_timeout_ms: int = 200


@dataclass(slots=True)
class _Seen:
    now_us: int  # Redis's clock, microseconds
    # pending, other connections
    foreign: dict[str, list[PendingEntry]] = field(default_factory=dict)
    # number -> event id of its queued text that arrived last, and that arrival (seconds)
    latest: dict[str, str] = field(default_factory=dict)
    latest_at: dict[str, float] = field(default_factory=dict)
    last_seq: dict[str, int] = field(default_factory=dict)  # number -> last ingest sequence
    tokens: dict[str, str] = field(default_factory=dict)  # set of parts -> its claim


@dataclass(frozen=True, slots=True)
class _Either:
    """Entries in either of two collections."""

    first: Container[PendingEntry]
    second: Container[PendingEntry]

    def __contains__(self, entry: object) -> bool:
        return entry in self.first or entry in self.second


class Contended(redis.RedisError):
    """Other gateways kept changing the batch's numbers: nothing was queued this time."""


class ReplicasBehind(redis.RedisError):
    """The batch is in the primary, but fewer replicas than required confirmed it in time:
    the texts get the temporary error, and their redelivery is recognised as a duplicate."""


class EventQueue:
    def __init__(self, client: redis.Redis, keys: Keys, options: JobOptions,
                 clock: Clock = system_clock, deliveries: DeliverySink | None = None) -> None:
        self._r = client
        self._keys = keys
        self._opt = options
        self._clock = clock
        self._queues = [
            Queue(keys.event_queue(s), connection=client, serializer=JSONSerializer)
            for s in range(keys.shards)
        ]
        self.backlog = Backlog(client, keys)
        self.deliveries = DeliverySink() if deliveries is None else deliveries

    def enqueue(
        self,
        texts: Sequence[QueuedText],
        deliveries: Sequence[DeliveryUpdate],
        batch_id: str,
        conn_id: str,
        *,
        wait_also: bool = False,
        unsure: Container[PendingEntry] = (),
    ) -> None:
        """Queue ``texts`` received on connection ``conn_id`` (marking redeliveries of texts
        an earlier connection queued as duplicates) and delivery updates, each text with its
        number's next ingest sequence.

        The sequence is assigned here, where every gateway's texts meet: the transaction
        watches each number's last sequence (and pending entries, and the sets of parts it
        queues), so of two gateways queueing one number's texts at once the second one's
        transaction is refused and runs again with the first one's sequence in view. A
        number's texts are thus numbered in the order their transactions ran, whatever the
        instances' clocks say. ``wait_also``: the caller wrote other things (held parts)
        that must reach ``min_replicas_ack`` replicas too. ``unsure``: entries of this
        connection's earlier batches whose outcome it does not know (``UnsureEntries``).

        Raises a redis error when nothing could be queued; then nothing was.
        """
        new: list[QueuedText] = []
        dups: list[QueuedText] = []
        # Submit results waiting in the sink ride along, ahead of this batch's receipts.
        with self.deliveries.sending() as waiting:
            taken = waiting
            riders = [*waiting, *deliveries]
            for _attempt in range(MAX_ATTEMPTS):
                tried = {e for t in texts for e in t._tried}
                try:
                    new, dups = self._enqueue_once(texts, riders, batch_id, conn_id,
                                                   _Either(unsure, tried) if tried else unsure)
                    break
                except redis.WatchError:
                    # Refused — or redis-py's word for a connection that broke while
                    # watching, perhaps after EXEC ran (the transaction is then queued and
                    # only its answer lost). The next try takes this one's entries, if Redis
                    # has them, for the texts' own (an entry exists only if its transaction
                    # ran).
                    for t in texts:
                        if t._entry is not None and t._entry.conn == conn_id:
                            t._tried.append(t._entry)
                        t.duplicate, t._entry, t._earlier = False, None, []
            else:
                raise Contended(f"{MAX_ATTEMPTS} tries to queue a batch lost to other writers "
                                f"of the same numbers")
        wanted = self._opt.min_replicas_ack
        if not wanted or not (new or wait_also):
            return
        held = self.replicas_holding()
        if held < wanted:
            # The redeliveries recognised in this batch get the temporary error too: their
            # entries (removed by the transaction) go back, or the next copy is queued again.
            self._held_back([t for t in new if t.held is None] + dups)
            self.deliveries.give_back(taken)
            raise ReplicasBehind(f"{held} of {wanted} replicas confirmed the batch within "
                                 f"{self._opt.wait_timeout_ms} ms (redis.min_replicas_ack)")

    def queue_due_deliveries(self, *, force: bool = False) -> int:
        """Queue the sink's delivery updates on their own when they have waited long enough
        for a batch of texts (``force``: whatever waits, e.g. at shutdown). Returns how many;
        raises a redis error (they wait for the next try)."""
        if not (self.deliveries.due() or (force and len(self.deliveries))):
            return 0
        with self.deliveries.sending() as waiting:
            if waiting:
                self._enqueue_once([], waiting, uuid.uuid4().hex, "-", ())
            return len(waiting)

    def replicas_hold(self) -> bool:
        """Whether ``min_replicas_ack`` replicas hold everything written so far (True when
        the setting is 0)."""
        return self.replicas_holding() >= self._opt.min_replicas_ack

    def replicas_holding(self) -> int:
        """How many replicas (up to ``min_replicas_ack``) hold everything written so far,
        waiting at most ``wait_timeout_ms``. Redis replication is asynchronous: without WAIT
        a primary that dies right after answering takes the batch with it, although the
        SMSC was told we hold it. WAIT counts the writes of its own connection; the marker
        written on the same connection just before makes it cover every earlier write,
        whichever pooled connection made them."""
        return replicas_holding(self._r, self._keys, self._opt.min_replicas_ack,
                                self._opt.wait_timeout_ms)

    def _enqueue_once(self, texts: Sequence[QueuedText], deliveries: Sequence[DeliveryUpdate],
                      batch_id: str, conn_id: str, unsure: Container[PendingEntry],
                      ) -> tuple[list[QueuedText], list[QueuedText]]:
        now_ms = int(self._clock().timestamp() * 1000)
        numbers = sorted({t.msisdn for t in texts})
        sets = [t.held for t in texts if t.held is not None]
        watched = [self._keys.sequence(n) for n in numbers] \
            + [self._keys.pending(n) for n in numbers] + [h.key for h in sets]
        with self._r.pipeline(transaction=True) as p:
            if watched:
                p.watch(*watched)  # type: ignore[no-untyped-call]
            seen = self._read(numbers, [h.key for h in sets], conn_id, unsure)
            p.multi()
            by_shard: dict[int, list[dict[str, Any]]] = defaultdict(list)
            new: list[QueuedText] = []
            dups: list[QueuedText] = []
            replaced: list[tuple[str, PendingEntry]] = []  # (number, entry) a copy stands for
            settled: list[HeldSet] = []
            last_seq = dict(seen.last_seq)
            for t in texts:
                if t.held is not None:
                    if seen.tokens.get(t.held.key) != t.held.token:
                        t.duplicate = True  # another instance claimed the set and queues it
                        continue
                    settled.append(t.held)
                    match = None
                else:
                    match = self._redelivery_of(t, seen.foreign.get(t.msisdn, []),
                                                seen.latest.get(t.msisdn), now_ms, unsure)
                if POSSIBLE_REDELIVERY_OF in t.request.smsc:  # an earlier try's verdict
                    t.request = replace(t.request, smsc={
                        k: v for k, v in t.request.smsc.items() if k != POSSIBLE_REDELIVERY_OF})
                if match is not None and match[1] is Redelivery.POSSIBLE:
                    # Queued as a text of its own; the ledger names the entry it may repeat.
                    # The entry goes (this text stands for it now): the next copy of the
                    # same deliver_sm matches this text's entry, not the old one again.
                    t.request = replace(t.request, smsc={
                        **t.request.smsc, POSSIBLE_REDELIVERY_OF: match[0].event_id})
                    seen.foreign[t.msisdn].remove(match[0])
                    replaced.append((t.msisdn, match[0]))
                    match = None
                if match is not None:
                    entry = match[0]
                    seen.foreign[t.msisdn].remove(entry)
                    # The entry passes to this connection (same event and first queueing):
                    # from here on it is this connection's to acknowledge, and to be
                    # remembered if the transaction's outcome stays unknown.
                    t.duplicate, t._earlier = True, [entry]
                    t._entry = replace(entry, conn=conn_id, state=EntryState.QUEUED)
                    dups.append(t)
                    continue
                event_id = t.request.event_id
                seq = max(last_seq.get(t.msisdn, 0) + 1, seen.now_us)
                last_seq[t.msisdn] = seq
                t.request = t.request.sequenced(seq)
                if t.held is None:
                    t._entry = PendingEntry(conn_id, t.fingerprint, event_id, now_ms,
                                            EntryState.QUEUED)
                arrived = t.request.received_at.timestamp()
                if arrived >= seen.latest_at.get(t.msisdn, 0.0):
                    seen.latest[t.msisdn], seen.latest_at[t.msisdn] = event_id, arrived
                new.append(t)
                by_shard[self._keys.shard_of(t.msisdn)].append(t.request.to_dict())
            # Delivery updates ride along with the first event job of the batch (one job,
            # not two; a separate deliveries queue would starve behind busy shards).
            riders = [u.to_wire() for u in deliveries]
            for shard, requests in sorted(by_shard.items()):
                kwargs = {"deliveries": riders} if riders else None
                data = Queue.prepare_data(
                    APPLY_EVENTS_JOB, args=(requests,), kwargs=kwargs,
                    job_id=f"{batch_id}-{shard}",
                    timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
                    failure_ttl=self._opt.failure_ttl,
                    retry=Retry(max=self._opt.retry_max, enqueue_at_front=True)
                    if self._opt.retry_max else None,
                    description=f"apply {len(requests)} events",
                )
                self._queues[shard].enqueue_many([data], pipeline=p)
                riders = []
            if riders:
                data = Queue.prepare_data(
                    RECORD_DELIVERIES_JOB, args=(riders,), job_id=f"{batch_id}-d",
                    timeout=self._opt.timeout, result_ttl=self._opt.result_ttl,
                    failure_ttl=self._opt.failure_ttl,
                    retry=Retry(max=self._opt.retry_max) if self._opt.retry_max else None,
                    description=f"record {len(riders)} deliveries",
                )
                # Shard 0's queue, not a queue of their own: each worker serves exactly one
                # queue, so RQ takes jobs with LMOVE into its safety list (with several
                # queues RQ 3 uses LPOP, and a worker killed right then loses the job).
                self._queues[0].enqueue_many([data], pipeline=p)
            for t in new:
                if t._entry is not None:
                    p.rpush(self._keys.pending(t.msisdn), t._entry.dumps())
                    p.expire(self._keys.pending(t.msisdn), self._opt.pending_ttl)
                n = t.msisdn
                p.set(self._keys.latest(n), f"{seen.latest[n]}|{seen.latest_at[n]:.6f}",
                      ex=self._opt.pending_ttl)
            for n, seq in last_seq.items():
                if seq != seen.last_seq.get(n):
                    p.set(self._keys.sequence(n), seq, ex=SEQUENCE_TTL)
            for n, old in replaced:
                p.lrem(self._keys.pending(n), 1, old.dumps())
            for t in dups:
                assert t._entry is not None
                p.lrem(self._keys.pending(t.msisdn), 1, t._earlier[0].dumps())
                p.rpush(self._keys.pending(t.msisdn), t._entry.dumps())
                p.expire(self._keys.pending(t.msisdn), self._opt.pending_ttl)
            for held in settled:
                parts.settle(p, self._keys, held, self._opt.pending_ttl)
            self.backlog.counted_in(p, len(new))
            p.execute()
        return new, dups

    def acknowledged(self, texts: Sequence[QueuedText]) -> None:
        """Our deliver_sm_resp for these was written. Written is not received: a link that
        dies right then (seen in the link-drop fault test) leaves the SMSC without it, and
        it redelivers on the next bind. So the entries stay, marked ``a``, until the window
        ends, and match a redelivery under the latest-text rule (_redelivery_of)."""
        fresh = [t for t in texts if t._entry is not None and t._entry.state == EntryState.QUEUED]
        if not fresh:
            return
        self._refile(fresh, lambda e: e.as_state(EntryState.ACKNOWLEDGED), transaction=False)

    def _redelivery_of(self, t: QueuedText, waiting: list[PendingEntry], latest: str | None,
                       now_ms: int, unsure: Container[PendingEntry],
                       ) -> tuple[PendingEntry, Redelivery] | None:
        """The pending entry ``t`` matches inside the window, and what ``t`` is then
        (``consent_core.arrival.redelivery_verdict``): while the entry is the number's latest
        text (by arrival), its redelivery. After a later text (the person may have moved on),
        an entry the SMSC may have had the answer for matches nothing; one it never had a
        positive answer for (unanswered, or its enqueue's outcome unknown) is ambiguous:
        a withdrawal is queued as a possible redelivery, anything else is the redelivery.
        An entry it is the redelivery of wins over one it may be a copy of."""
        possible: tuple[PendingEntry, Redelivery] | None = None
        for entry in waiting:
            if entry.fingerprint != t.fingerprint:
                continue
            if now_ms - entry.at_ms > self._opt.pending_ttl * 1000:
                continue
            unanswered = entry.state == EntryState.UNANSWERED or entry in unsure
            later_text = entry.event_id != latest
            verdict = redelivery_verdict(
                unanswered=unanswered, later_text=later_text,
                withdrawal=unanswered and later_text
                and withdraws(t.request.action, t.request.text))
            if verdict is Redelivery.REDELIVERY:
                return entry, verdict
            if verdict is Redelivery.POSSIBLE and possible is None:
                possible = entry, verdict
        return possible

    def _read(self, numbers: list[str], set_keys: list[str], conn_id: str,
              unsure: Container[PendingEntry]) -> _Seen:
        """What the batch's transaction depends on, read after WATCH (on another connection:
        a change after the WATCH still refuses the transaction)."""
        with self._r.pipeline(transaction=False) as p:
            p.time()
            for n in numbers:
                p.lrange(self._keys.pending(n), 0, -1)
                p.get(self._keys.latest(n))
                p.get(self._keys.sequence(n))
            for key in set_keys:
                p.hget(key, "_token")
            replies = p.execute()
        secs, micros = replies[0]
        seen = _Seen(now_us=int(secs) * 1_000_000 + int(micros))
        for i, n in enumerate(numbers):
            entries, last, seq = replies[1 + 3 * i: 4 + 3 * i]
            # Never an entry this connection filed itself (the SMSC redelivers only what it
            # had no positive answer for), unless its outcome is unknown to it.
            listed = (PendingEntry.loads(x.decode()) for x in entries)
            others = [e for e in listed
                      if e is not None and (e.conn != conn_id or e in unsure)]
            if others:
                seen.foreign[n] = others
            if last is not None:
                eid, _, arrived = last.decode().partition("|")
                seen.latest[n] = eid
                seen.latest_at[n] = float(arrived or 0.0)
            if seq is not None:
                seen.last_seq[n] = int(seq)
        for key, token in zip(set_keys, replies[1 + 3 * len(numbers):], strict=True):
            if token is not None:
                seen.tokens[key] = token.decode()
        return seen

    def _held_back(self, texts: Sequence[QueuedText]) -> None:
        """Queued, but answered with the temporary error (replicas behind): the redelivery may
        come on this very connection, so the entries are re-filed under no connection."""
        self._refile(texts, lambda e: replace(e, conn=NO_CONNECTION,
                                              state=EntryState.UNANSWERED))

    def _refile(self, texts: Sequence[QueuedText],
                new_entry: Callable[[PendingEntry], PendingEntry],
                transaction: bool = True) -> None:
        """Replace each text's pending entry by ``new_entry(old)`` (same list, at its end).
        The old one is kept in ``_earlier``: if the answer is lost, either may be in Redis."""
        with self._r.pipeline(transaction=transaction) as p:
            for t in texts:
                if t._entry is None:
                    continue
                key = self._keys.pending(t.msisdn)
                p.lrem(key, 1, t._entry.dumps())
                t._earlier.append(t._entry)
                t._entry = new_entry(t._entry)
                p.rpush(key, t._entry.dumps())
                p.expire(key, self._opt.pending_ttl)
            p.execute()

    def unanswered(self, texts: Sequence[QueuedText]) -> None:
        """Queued, but their deliver_sm_resp was never written: the SMSC will redeliver
        them, and the redelivery must be recognised whatever came in between."""
        fresh = [t for t in texts if t._entry is not None and t._entry.state == EntryState.QUEUED]
        if not fresh:
            return
        try:
            self._refile(fresh, lambda e: e.as_state(EntryState.UNANSWERED))
        except redis.RedisError:
            pass  # the entries stay as they were: matched under the stricter rule

    def acknowledged_quietly(self, texts: Sequence[QueuedText]) -> None:
        """``acknowledged``, but a Redis hiccup here only leaves entries to expire."""
        try:
            self.acknowledged(texts)
        except redis.RedisError:
            pass

    def depths(self) -> dict[str, int]:
        with self._r.pipeline(transaction=False) as p:
            for q in self._queues:
                p.llen(q.key)
            counts = p.execute()
        return {q.name: int(c) for q, c in zip(self._queues, counts, strict=True)}


def replicas_holding(client: redis.Redis, keys: Keys, wanted: int, timeout_ms: int) -> int:
    """How many replicas (up to ``wanted``) hold every write the primary took before this
    call, by whichever client: a marker written and WAITed for on one connection (WAIT
    counts its own connection's writes; replication keeps the primary's order, so a
    replica holding the marker holds everything before it). 0 when ``wanted`` is 0."""
    if not wanted:
        return 0
    with client.pipeline(transaction=False) as p:
        p.incr(keys.replicated)
        p.wait(wanted, timeout_ms)
        _, held = p.execute()
    return int(held)

