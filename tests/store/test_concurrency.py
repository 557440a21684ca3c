"""Several workers applying overlapping batches at once: each event applied exactly once,
and the state of each number and consent is that of its newest text."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_core.model import Outcome
from consent_store.requests import AppliedChange, ChangeRequest
from consent_store.store import ConsentStore
from tests.store.conftest import req

WORKERS = 4
NUMBERS = [f"3712600{i:04d}" for i in range(12)]
CONSENTS = ["JAUNUMI", "VIETA"]


def _events(seed: int) -> list[ChangeRequest]:
    rnd = random.Random(seed)
    out = []
    seq: Counter[str] = Counter()
    for n in range(240):
        msisdn = rnd.choice(NUMBERS)
        seq[msisdn] += 1
        if n % 40 == 0:
            out.append(req("unknown", None, msisdn=msisdn, seq=seq[msisdn], event_id=f"cc-{n}"))
        else:
            out.append(req(rnd.choice(["give", "withdraw"]), rnd.choice(CONSENTS),
                           msisdn=msisdn, seq=seq[msisdn], event_id=f"cc-{n}"))
    return out


def test_overlapping_batches_from_several_workers_apply_each_event_once(
        database_url: str, store: ConsentStore, catalog: Catalog) -> None:
    store.import_subscribers([(n, "lmt", True) for n in NUMBERS])
    events = _events(7)
    barrier = threading.Barrier(WORKERS)
    results: list[list[AppliedChange]] = [[] for _ in range(WORKERS)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        rnd = random.Random(i)
        mine = ConsentStore(database_url)
        # Every worker gets every event, in its own (mostly in-order) arrangement.
        batches = [events[k:k + 20] for k in range(0, len(events), 20)]
        rnd.shuffle(batches)
        try:
            barrier.wait()
            for batch in batches:
                results[i].extend(mine.apply_batch(batch, catalog=catalog))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            print(f"worker {i}: {mine.conflict_retries} conflict retries")
            mine.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors

    with store.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT event_id FROM consent_events")).scalars().all()
    assert sorted(ids) == sorted(e.event_id for e in events)  # no duplicates, none lost

    applied: dict[str, Outcome] = {}
    for r in (r for rs in results for r in rs if not r.replayed):
        assert r.event_id not in applied, f"{r.event_id} applied twice"
        applied[r.event_id] = r.outcome
    assert len(applied) == len(events)
    for r in (r for rs in results for r in rs if r.replayed):
        assert r.outcome == applied[r.event_id]

    # Whatever the order, each number+consent ends as its newest text says.
    newest: dict[tuple[str, str], ChangeRequest] = {}
    for e in events:
        if e.consent is not None:
            newest[(e.msisdn, e.consent)] = e
    for (msisdn, consent), e in newest.items():
        status = store.state(msisdn).consents[consent].status
        if e.action == "give":
            assert status == "given", (msisdn, consent)
        else:
            assert status in ("withdrawn", "none"), (msisdn, consent)
        assert store.state(msisdn, at=e.received_at).consents[consent].status == status
    # Concurrent writers of a number queue behind its chain head: every chain verifies.
    report = store.verify()
    assert report.intact, report.first_break
    assert (report.rows, report.chains) == (len(events), len({e.msisdn for e in events}))


def test_racing_writers_of_the_same_unknown_command_record_it_once(
        database_url: str, store: ConsentStore, catalog: Catalog) -> None:
    # No state row to queue behind: the unique event id decides, the loser replays.
    events = [req("unknown", None, msisdn=NUMBERS[0], event_id=f"u-{i}") for i in range(30)]
    barrier = threading.Barrier(WORKERS)
    outcomes: defaultdict[str, list[bool]] = defaultdict(list)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        mine = ConsentStore(database_url)
        try:
            barrier.wait()
            for e in events:
                r = mine.apply(e, catalog=catalog)
                with lock:
                    outcomes[e.event_id].append(r.replayed)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            retries.append(mine.conflict_retries)
            mine.close()

    retries: list[int] = []
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert all(sorted(v) == [False] + [True] * (WORKERS - 1) for v in outcomes.values())
    assert len(store.history(NUMBERS[0])) == len(events)
    assert store.verify(NUMBERS[0]).intact
    print(f"conflict retries: {sum(retries)}")
