"""``consentctl subscribers sync`` as an operator runs it nightly (issue 28), on SQLite and
PostgreSQL, with the real worker applying what it queues: numbers added, changed, gone
and handed over; the dry run showing what the sync then does; the guard refusing a
truncated export; and every reader (eligibility, may-use, the feed, the audiences, show)
agreeing."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from consent_core.catalog import load_catalog
from consent_store import api_reads
from consent_store.audience import open_audience
from consent_store.engine import upgrade
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from tests.ctl.test_operator_cli import run_on_terminal
from tests.support.pipeline import BIN, Pipeline, Proc

pytestmark = pytest.mark.e2e  # real consentctl and consent-worker processes

HANDED = "37129000001"  # its holder changes: a handover
GONE = "37129000002"  # absent from the second file: left LMT
PORTED = "37129000003"  # listed as another operator's client
GROWN = "37129000004"  # a minor's line becomes independent
NEW = "37129000099"  # added by the second file
FILLER = [f"3712910{i:04d}" for i in range(40)]  # so one number leaving is under 5 %


def first_file() -> str:
    rows = [f"{HANDED},lmt,true,H1", f"{GONE},lmt,true,H2", f"{PORTED},lmt,true,H3",
            f"{GROWN},lmt,false,H4", *(f"{n},lmt,true,F{n}" for n in FILLER)]
    return "msisdn,client_group,independent,holder\n" + "\n".join(rows) + "\n"


def second_file() -> str:
    rows = [f"{HANDED},lmt,true,H9", f"{PORTED},other,true,H3", f"{GROWN};lmt;true;H4",
            f"{NEW},lmt,true,H99", *(f"{n},lmt,true,F{n}" for n in FILLER)]
    return "\n".join(r.replace(";", ",") for r in rows) + "\n"


@pytest.fixture
def pipeline(tmp_path: Path, database_url: str, redis_url: str) -> Any:
    p = Pipeline(tmp_path, 2775, redis_url, database_url,  # no gateway: the port is unused
                 {"metrics": {"worker_port": 0, "gateway_port": 0}})
    upgrade(database_url)
    yield p
    p.stop()


def sync(p: Pipeline, name: str, text: str, *flags: str) -> tuple[int, dict[str, Any]]:
    path = p.workdir / name
    path.write_text(text)
    out = p.ctl("subscribers", "sync", str(path), "--json", *flags, check=False)
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else {"stderr": out.stderr}


def burst(p: Pipeline) -> None:
    """Apply everything queued: the real worker, until the queues are empty."""
    proc = Proc("worker", [str(BIN / "consent-worker"), "run", "--burst"], p.env,
                p.workdir / "worker.log")
    proc.start()
    assert proc.proc is not None
    assert proc.proc.wait(120) == 0, proc.log()[-3000:]


def audience(store: ConsentStore, consent: str, at: datetime | None = None) -> set[str]:
    lines = b"".join(open_audience(store.engine, consent, at).lines("csv")).decode()
    return {line.split(",")[0] for line in lines.splitlines()[1:]}


def counts(result: dict[str, Any]) -> dict[str, int]:
    return {k: result[k] for k in ("directory_before", "rows", "added", "changed_group",
                                   "changed_independence", "left", "new_holder")}


def status_of(store: ConsentStore, msisdn: str) -> dict[str, str]:
    return {c: v.status for c, v in store.state(msisdn).consents.items()}


def give(store: ConsentStore, msisdn: str, consent: str) -> str:
    """What ``consentctl grant … --channel web`` does (it applies directly too)."""
    return store.apply(ChangeRequest(f"ctl-{uuid.uuid4()}", msisdn, "give", consent, "web",
                                     store.clock()), catalog=load_catalog()).outcome.value


def test_sync_adds_changes_removes_and_hands_over_and_every_reader_agrees(
        pipeline: Pipeline, database_url: str) -> None:
    p = pipeline
    code, first = sync(p, "night1.csv", first_file())
    assert code == 0 and first["added"] == 44 and first["queued_changes"] == 0
    store = ConsentStore(database_url)
    for msisdn, consents in ((HANDED, ("VIETA", "JAUNUMI")),
                             (GONE, ("VIETA", "METADATI", "JAUNUMI")),
                             (PORTED, ("AUTO", "JAUNUMI"))):
        for consent in consents:
            assert give(store, msisdn, consent) == "given"
    before = store.clock()

    code, dry = sync(p, "night2.csv", second_file(), "--dry-run")
    assert code == 0 and dry["outcome"] == "dry_run"
    assert counts(dry) == {"directory_before": 44, "rows": 44, "added": 1, "changed_group": 1,
                           "changed_independence": 1, "left": 1, "new_holder": 1}
    assert [s["msisdn"] for s in dry["samples"]["left"]] == [GONE]
    assert dry["samples"]["new_holder"] == [{"msisdn": HANDED, "before": "H1", "after": "H9"}]
    assert status_of(store, GONE)["VIETA"] == "given"  # a dry run writes nothing

    code, real = sync(p, "night2.csv", second_file())
    assert code == 0 and real["outcome"] == "applied"
    assert counts(real) == counts(dry)  # the dry run showed what the sync did
    # One handover, two numbers leaving LMT (gone, and listed as another operator's).
    assert real["queued_changes"] == 3
    burst(p)

    # Handed over: the same reset as `consentctl reset`, from the directory, both holders.
    assert set(status_of(store, HANDED).values()) <= {"withdrawn", "none"}
    resets = [e for e in store.history(HANDED, all_holders=True) if e.action == "reset"]
    assert {e.consent for e in resets} == {"VIETA", "JAUNUMI"}
    assert {(e.channel, e.note) for e in resets} == {("directory", "holder H1 -> H9")}
    assert store.export(HANDED)["history"] == []  # the new holder's period starts empty

    # Left, and ported: LMT-only consents fulfilled (lapsed, outcome left); JAUNUMI stays.
    assert status_of(store, GONE) == {"JAUNUMI": "given", "METADATI": "lapsed", "AUTO": "none",
                                  "VIETA": "lapsed", "SADARBIBA": "none"}
    assert status_of(store, PORTED)["AUTO"] == "lapsed" and status_of(store, PORTED)["JAUNUMI"] == "given"
    left = [e for e in store.history(GONE) if e.outcome == "left"]
    assert {(e.consent, e.action, e.channel) for e in left} == {
        ("VIETA", "lapse", "directory"), ("METADATI", "lapse", "directory")}
    gone_row = store.subscriber(GONE)
    assert gone_row is not None
    assert gone_row["client_group"] == "other" and gone_row["left_at"] is not None

    # Eligibility: a number that left may not give an LMT-only consent again; JAUNUMI yes.
    refused = p.ctl("grant", GONE, "VIETA", "--channel", "web", check=False)
    assert refused.returncode == 6 and "refused_not_lmt_client" in refused.stdout
    assert give(store, NEW, "VIETA") == "given" and give(store, GONE, "JAUNUMI") == \
        "already_given"
    assert (store.subscriber(GROWN) or {})["independent"] is True

    # may-use now and as it stood before the sync; the feed lists the same changes.
    assert not store.may_use(GONE, "VIETA") and store.may_use(GONE, "JAUNUMI")
    assert store.may_use(GONE, "VIETA", at=before)
    assert not store.may_use(HANDED, "JAUNUMI") and store.may_use(HANDED, "JAUNUMI", at=before)
    with store.engine.connect() as conn:
        feed = api_reads.changes_after(conn, 0, 1000)
    fed = {(c["msisdn"], c["consent"]): c for c in feed.changes}
    assert fed[(GONE, "VIETA")]["outcome"] == "left"
    assert fed[(GONE, "VIETA")]["status"] == "lapsed"
    assert fed[(HANDED, "VIETA")]["outcome"] == "reset"
    assert fed[(GONE, "JAUNUMI")]["outcome"] == "given"
    # The audiences a campaign takes: now without the numbers that left, before with them.
    assert audience(store, "VIETA") == {NEW}
    assert audience(store, "VIETA", before) == {HANDED, GONE}
    assert audience(store, "JAUNUMI") == {GONE, PORTED}

    # The same file again: nothing to do, nothing queued; the worker adds no rows.
    ledger = len(store.history(GONE, all_holders=True))
    code, again = sync(p, "night2.csv", second_file())
    assert code == 0 and again["queued_changes"] == 0
    assert counts(again) == {"directory_before": 44, "rows": 44, "added": 0,
                             "changed_group": 0, "changed_independence": 0, "left": 0,
                             "new_holder": 0}
    burst(p)
    assert len(store.history(GONE, all_holders=True)) == ledger
    assert "Directory sync: APPLIED" in p.ctl("status", check=False).stdout
    store.close()


def test_guard_refuses_a_truncated_export_and_bad_rows_change_nothing(
        pipeline: Pipeline, database_url: str) -> None:
    p = pipeline
    store = ConsentStore(database_url)
    assert sync(p, "night1.csv", first_file())[0] == 0
    truncated = "".join(first_file().splitlines(keepends=True)[:11])  # header + 10 rows

    code, out = sync(p, "truncated.csv", truncated)
    assert code == 2 and "would leave the directory" in out["stderr"]
    assert "more than directory.max_drop_share (5.0%)" in out["stderr"]
    listed = store.subscribers(limit=100)
    assert len(listed) == 44 and all(r["left_at"] is None for r in listed)
    status = p.ctl("status", check=False).stdout
    assert "Directory sync: REFUSED" in status and "34 left" in status

    broken = first_file() + "3712912345x,lmt,true\n"
    code, out = sync(p, "broken.csv", broken, "--yes")
    assert code == 3 and out["outcome"] == "refused" and out["bad_rows"] == 1
    twice = first_file() + f"{FILLER[0]},other,true\n"
    code, out = sync(p, "twice.csv", twice)
    assert code == 3 and out["bad_rows"] == 1
    assert len(store.subscribers(limit=100, client_group="lmt")) == 44

    # On a terminal the difference is shown and the question asked, as erase asks.
    code, screen = run_on_terminal(
        [str(BIN / "consentctl"), "subscribers", "sync", str(p.workdir / "truncated.csv")],
        p.env, p.workdir, answer=b"no\n")
    assert code == 2 and "left                          34" in screen
    assert "Type yes" in screen and "not confirmed; nothing changed" in screen
    assert len(store.subscribers(limit=100, client_group="lmt")) == 44

    # Confirmed, the truncated file is the directory: 34 numbers left.
    code, out = sync(p, "truncated.csv", truncated, "--yes")
    assert code == 0 and out["left"] == 34 and out["queued_changes"] == 34
    assert len(store.subscribers(limit=100, client_group="lmt")) == 10
    store.close()
