"""A stream of subscriber texts for the fault-injection tests, and the checks run after it.

Every number sends five commands for one consent, gives and withdraws mixed. The five
texts of a number differ only in letter case (``VIETA``, ``vIETA``, ``ViETA`` …): each is
still a command the parser understands, and each can be found again in the ledger, so
"exactly once" is checked per text, not only as a count.

The simulator is watched from inside (its delivery hooks, on its own loop): the wall time
at which each text was acknowledged and why each failed attempt failed (an explicit
temporary error from the gateway, or the connection dying with the text in flight).
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from consent_core.arrival import POSSIBLE_REDELIVERY_OF
from consent_core.model import CONSENTS
from consent_queue.keys import Keys
from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, Proc, wait_until

LOST = "connection lost before deliver_sm_resp"  # smsc_sim's reason for a text in flight
SLACK = 0.05  # seconds: the simulator and the gateway read the same clock, in two processes

# Reply limits high enough that no reply of the stream is limited (tests/faults/test_abuse.py
# tests the limits themselves).
NO_LIMITS = {"replies_per_minute": 100_000, "replies_per_day": 100_000}


def variant(base: str, j: int) -> str:
    """The j-th spelling (0..6) of a command: the first three letters' case from j+1's bits."""
    mask = j + 1
    return "".join(c.lower() if i < 3 and mask >> i & 1 else c for i, c in enumerate(base))


@dataclass
class Text:
    mo_id: int
    msisdn: str
    text: str
    action: str  # give | withdraw
    consent: str
    offered_at: float


@dataclass
class Book:
    """What the simulator saw, recorded by hooks on its loop."""

    texts: list[Text] = field(default_factory=list)
    acked: dict[int, float] = field(default_factory=dict)  # mo_id -> wall time of the ack
    failures: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def longest_ack_gap(self) -> float:
        """The longest time (s) without any text acknowledged: a fault's cost as the SMSC
        sees it."""
        times = sorted(self.acked.values())
        return round(max((b - a for a, b in itertools.pairwise(times)), default=0.0), 2)


class Stream:
    def __init__(self, sim: SimulatorThread, *, numbers: int = 400, per_number: int = 5,
                 seed: int = 6, prefix: str = "3712600", long_every: int = 0) -> None:
        """``long_every``: every so many texts is padded with blanks to two parts (a long
        text the parser still reads as the command)."""
        self.sim = sim
        rng = random.Random(seed)
        self.numbers = [f"{prefix}{i:04d}" for i in range(numbers)]
        self.plan: list[tuple[str, str, str, str]] = []  # (msisdn, text, action, consent)
        per: dict[str, list[tuple[str, str, str, str]]] = {}
        for i, n in enumerate(self.numbers):
            consent = CONSENTS[i % len(CONSENTS)]
            steps = []
            for j in range(per_number):
                action = rng.choice(("give", "withdraw"))
                base = consent if action == "give" else f"{consent} STOP"
                text = variant(base, j)
                if long_every and (i * per_number + j) % long_every == 0:
                    text += " " * 200  # 160 septets fit one part: this takes two
                steps.append((n, text, action, consent))
            per[n] = steps
        # Round robin: each number's texts are a few hundred texts apart in the stream.
        for j in range(per_number):
            self.plan += [per[n][j] for n in self.numbers]
        self.book = Book()
        self._hooks()

    # ------------------------------------------------------------------ set-up
    def import_directory(self, p: Pipeline) -> None:
        csv = p.workdir / "faults-directory.csv"
        csv.write_text("msisdn,client_group,independent\n"
                       + "".join(f"{n},lmt,true\n" for n in self.numbers))
        p.ctl("subscribers", "import", str(csv))

    def _hooks(self) -> None:
        sim, book = self.sim.sim, self.book
        deliver_resp, delivery_failed = sim._deliver_resp, sim._delivery_failed

        def on_resp(conn: Any, status: int, seq: int) -> None:
            delivery = conn.inflight.get(seq)
            deliver_resp(conn, status, seq)
            if (delivery is not None and delivery.mo.kind == "mo"
                    and delivery.mo.state == "acknowledged" and delivery.mo.mo_id not in book.acked):
                book.acked[delivery.mo.mo_id] = time.time()

        def on_failed(delivery: Any, reason: str) -> None:
            if delivery.mo.kind == "mo":
                book.failures[delivery.mo.mo_id].append(reason)
            delivery_failed(delivery, reason)

        sim._deliver_resp = on_resp  # type: ignore[method-assign]
        sim._delivery_failed = on_failed  # type: ignore[method-assign]

    # ------------------------------------------------------------------ running
    def offer(self, rate: float, *, at_half: Callable[[], None]) -> float:
        """Offer the whole plan at ``rate`` texts/s from a thread; call ``at_half`` (which may
        block) once half is offered. Returns the seconds the fault took."""
        half = threading.Event()

        def feed() -> None:
            start = time.monotonic()
            for k, (n, text, action, consent) in enumerate(self.plan):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                at = time.time()
                mo_id = self.sim.send_mo(n, text)
                self.book.texts.append(Text(mo_id, n, text, action, consent, at))
                if k == len(self.plan) // 2:
                    half.set()

        feeder = threading.Thread(target=feed, name="feeder", daemon=True)
        feeder.start()
        half.wait(120)
        started = time.monotonic()
        at_half()
        took = time.monotonic() - started
        feeder.join(300)
        return took

    # ------------------------------------------------------------------ checks
    def settle(self, p: Pipeline, redis_url: str, database_url: str, timeout: float = 120) -> None:
        """Wait until the SMSC has everything acknowledged and answered and the queues are empty."""
        n = len(self.plan)
        engine = sa.create_engine(database_url)
        client = redis.Redis.from_url(redis_url)
        keys = _keys(p)

        def ledger_rows() -> int:
            try:
                with engine.connect() as conn:
                    return int(conn.execute(sa.text(
                        "select count(*) from consent_events where channel = 'sms'")).scalar_one())
            except sa.exc.OperationalError:
                return -1

        def drained() -> bool:
            try:
                names = keys.rq_queues
                busy = sum(client.llen(f"rq:queue:{name}") for name in names)
                return busy == 0 and client.llen(keys.replies) == 0 and not any(
                    client.llen(k) for k in client.scan_iter(f"{keys.prefix}:replies:inflight:*"))
            except redis.RedisError:
                return False

        try:
            assert wait_until(lambda: len(self.book.acked) >= n, timeout, 0.2), \
                f"acknowledged {len(self.book.acked)} of {n}; sim: {_brief(self.sim.stats())}"
            assert wait_until(lambda: ledger_rows() >= n and drained()
                              and self.sim.stats()["replies"] >= n, timeout, 0.2), \
                f"ledger {ledger_rows()} of {n}, sim: {_brief(self.sim.stats())}"
            time.sleep(1.5)  # let any late duplicate arrive before counting
        finally:
            engine.dispose()
            client.close()

    def verify(self, p: Pipeline, redis_url: str, database_url: str, *, fault: str,
               duplicate_bound: int, out: Path, extra: dict[str, Any] | None = None,
               queued_before_temp_error: bool = False) -> dict[str, Any]:
        """Run every check; write and print the counts; return them (problems listed).

        ``queued_before_temp_error``: a temporary error may come after the text was queued
        (redis.min_replicas_ack: in the primary, not yet on a replica), so a text that had
        one keeps the place of its first queueing, like one in flight on a dead link."""
        problems: list[str] = []
        texts = self.book.texts
        by_key = {(t.msisdn, t.text): t for t in texts}
        assert len(by_key) == len(texts) == len(self.plan)
        stats = self.sim.stats()

        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "select msisdn, text, action, consent, outcome, ingest_seq, received_at, reply_text, "
                "smsc from consent_events where channel = 'sms'")).mappings().all()
            states = {(r.msisdn, r.consent): r.status for r in conn.execute(sa.text(
                "select msisdn, consent, status from consent_state"))}
        engine.dispose()

        # 1. Every text the SMSC handed over is in the ledger exactly once, and nothing else
        #    — except a withdrawal redelivered after the number's next text, when the SMSC
        #    never had an answer for it: applied again on the safe side, its row naming the
        #    first (docs/guarantees.md "Redelivery"); counted, and never a give.
        seen: Counter[tuple[str, str]] = Counter((r["msisdn"], r["text"]) for r in rows)
        marked: Counter[tuple[str, str]] = Counter(
            (r["msisdn"], r["text"]) for r in rows if _possible_redelivery(r))
        for key, count in seen.items():
            if key not in by_key:
                problems.append(f"ledger row for a text never sent: {key}")
            elif count != 1 and (count - 1 != marked[key] or by_key[key].action != "withdraw"):
                problems.append(f"{key} is in the ledger {count} times")
        missing = [k for k in by_key if k not in seen]
        if missing:
            problems.append(f"{len(missing)} texts not in the ledger, e.g. {missing[:3]}")
        unacked = [t for t in texts if t.mo_id not in self.book.acked]
        if unacked:
            problems.append(f"{len(unacked)} texts never acknowledged to the SMSC")

        # 2. Order. The gateway takes a text's place in its number's order when it queues
        #    it, which is after the SMSC offered it and before the SMSC got the ack.
        # A withdrawal applied twice takes its place at the later row (its redelivery).
        row_of = {(r["msisdn"], r["text"]): r for r in sorted(rows, key=lambda r: r["ingest_seq"])}
        for t in texts:
            r = row_of.get((t.msisdn, t.text))
            acked = self.book.acked.get(t.mo_id)
            if r is None or acked is None:
                continue
            at = r["received_at"].timestamp()
            if not t.offered_at - SLACK <= at <= acked + SLACK:
                problems.append(f"{t.msisdn} {t.text!r}: queued at {at:.3f}, outside "
                                f"[offered {t.offered_at:.3f}, acknowledged {acked:.3f}]")
        per_number: dict[str, list[Text]] = defaultdict(list)
        for t in texts:
            per_number[t.msisdn].append(t)
        lost_in_flight = {t.mo_id for t in texts if LOST in self.book.failures.get(t.mo_id, [])
                          or (queued_before_temp_error and self.book.failures.get(t.mo_id))}
        by_ack_numbers = by_ledger_numbers = 0
        for n, mine in per_number.items():
            have = [t for t in mine if (n, t.text) in row_of and t.mo_id in self.book.acked]
            if len(have) != len(mine):
                continue
            ack_order = sorted(have, key=lambda t: self.book.acked[t.mo_id])
            ledger_order = sorted(have, key=lambda t: row_of[(n, t.text)]["ingest_seq"])
            # Texts the gateway answered explicitly (0 or a temporary error) apply in the
            # order of their acknowledgements.
            clean_ack = [t.text for t in ack_order if t.mo_id not in lost_in_flight]
            clean_ledger = [t.text for t in ledger_order if t.mo_id not in lost_in_flight]
            if clean_ack != clean_ledger:
                problems.append(f"{n}: applied in order {clean_ledger}, acknowledged {clean_ack}")
            # A text in flight on a connection that died may have been queued before the
            # drop (the redelivery is then recognised and not queued again): its place is
            # that first queueing, checked above to lie between offer and acknowledgement.
            if any(t.mo_id in lost_in_flight for t in have):
                last = ledger_order[-1]
                by_ledger_numbers += 1
            else:
                last = ack_order[-1]
                by_ack_numbers += 1
            status = states.get((n, last.consent), "none")
            want_given = last.action == "give"
            if (status == "given") != want_given:
                problems.append(f"{n}: {last.consent} is {status}, last command {last.text!r}")

        # 3. Replies: one per text; duplicates counted and bounded.
        replies: dict[str, list[str]] = defaultdict(list)
        for rep in self.sim.replies():
            replies[rep.msisdn].append(rep.text)
        stored: dict[str, Counter[str]] = defaultdict(Counter)
        for r in rows:
            if r["reply_text"]:
                stored[r["msisdn"]][r["reply_text"]] += 1
        duplicated = unanswered = 0
        for n in per_number:
            got = Counter(replies.get(n, []))
            want = stored[n]
            short = want - got
            if short:
                unanswered += sum(short.values())
                problems.append(f"{n}: no reply for {dict(short)}")
            extra_replies = got - want
            if any(text not in want for text in extra_replies):
                problems.append(f"{n}: replies the store never decided: {dict(extra_replies)}")
            duplicated += sum(extra_replies.values())
        if len(replies) > len(per_number) or set(replies) - set(per_number):
            problems.append(f"replies to numbers that never texted: {set(replies) - set(per_number)}")
        if duplicated > duplicate_bound:
            problems.append(f"{duplicated} duplicate replies, more than the bound {duplicate_bound}")

        # 4. RQ: nothing left queued, started or failed.
        rq_left = _rq_leftovers(p, redis_url)
        for what, ids in rq_left.items():
            if ids:
                problems.append(f"RQ {what}: {ids}")

        counts: dict[str, Any] = {
            "fault": fault,
            "offered": stats["mo_offered"],
            "acknowledged": stats["mo_acknowledged"],
            "redelivered": stats["redeliveries"],
            "temp_errors": stats["temp_errors"],
            "lost_in_flight": stats.get("lost_in_flight", 0),
            "texts_with_lost_attempt": len(lost_in_flight),
            "applied": len(rows) - sum(marked.values()),
            "superseded": sum(1 for r in rows if r["outcome"] == "superseded"),
            "withdrawals_applied_again": sum(marked.values()),
            "replied": stats["replies"],
            "duplicated": duplicated,
            "duplicate_bound": duplicate_bound,
            "unanswered": unanswered,
            "numbers_checked_by_ack_order": by_ack_numbers,
            "numbers_checked_by_ledger_order": by_ledger_numbers,
            "failed_jobs": len(rq_left["failed"]),
            "submit_throttled": stats.get("submit_sm_throttled", 0),
            "connections": stats.get("connections", 0),
            "longest_ack_gap_s": self.book.longest_ack_gap(),
            **(extra or {}),
            "problems": problems[:50],
        }
        out.write_text(json.dumps(counts, indent=2))
        print(f"\n[faults] {fault}: " + ", ".join(
            f"{k}={v}" for k, v in counts.items() if k not in ("fault", "problems")))
        return counts


class Supervisor:
    """Restarts a process that exits on its own, as systemd's ``Restart=on-failure`` does
    (RestartSec shortened to 1 s); counts those exits so a test can tell them apart from the
    kills it does itself."""

    def __init__(self, procs: list[Proc]) -> None:
        self.procs = procs
        self.unexpected_exits: list[tuple[str, int | None]] = []
        self._hold: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                for p in self.procs:
                    if p.name not in self._hold and p.proc is not None and not p.alive:
                        self.unexpected_exits.append((p.name, p.proc.returncode))
                        p.start()

    def kill9_and_restart(self, proc: Proc, down: float) -> None:
        with self._lock:
            self._hold.add(proc.name)
        proc.kill9()
        time.sleep(down)
        with self._lock:
            proc.start()
            self._hold.discard(proc.name)


def _possible_redelivery(row: Any) -> bool:
    smsc = row["smsc"] if isinstance(row["smsc"], dict) else json.loads(row["smsc"] or "{}")
    return POSSIBLE_REDELIVERY_OF in smsc


def _keys(p: Pipeline) -> Keys:
    return Keys("smsgw", "consent-events", int(p.sections.get("queue", {}).get("shards", 1)))


def _rq_leftovers(p: Pipeline, redis_url: str) -> dict[str, list[str]]:
    keys = _keys(p)
    client = redis.Redis.from_url(redis_url)
    names = keys.rq_queues
    out: dict[str, list[str]] = {"queued": [], "started": [], "failed": []}
    for name in names:
        q = Queue(name, connection=client, serializer=JSONSerializer)
        out["queued"] += q.get_job_ids()
        out["started"] += StartedJobRegistry(queue=q).get_job_ids()
        failed = FailedJobRegistry(queue=q)
        for job_id in failed.get_job_ids():
            job = q.fetch_job(job_id)
            why = (job.latest_result().exc_string or "")[-300:] if job and job.latest_result() else "?"
            out["failed"].append(f"{name}/{job_id}: {why}")
    client.close()
    return out


def _brief(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k not in ("binds", "faults", "latency_ms")}
