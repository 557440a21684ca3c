"""The directory's store side (docs/store.md, "The directory"): a handover or a leave run
twice is recorded once; one row put twice changes nothing; a number that left and comes
back with another holder is a handover, not a clean slate."""

from __future__ import annotations

from consent_core.catalog import Catalog
from consent_core.model import Outcome
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import LMT, req


def test_a_leave_applied_twice_is_recorded_once_and_keeps_jaunumi(
        store: ConsentStore, catalog: Catalog) -> None:
    for consent in ("VIETA", "JAUNUMI"):
        store.apply(req("give", consent, channel="web"), catalog=catalog)
    store.put_subscriber(SubscriberRow(LMT, "other"))
    first = store.leave(LMT, "dir:1:x:leave", "left", catalog)
    again = store.leave(LMT, "dir:1:x:leave", "left", catalog)
    assert [(c.consent, c.outcome, c.replayed) for c in first] == [
        ("VIETA", Outcome.LEFT, False)]
    assert [(c.consent, c.outcome, c.replayed) for c in again] == [
        ("VIETA", Outcome.LEFT, True)]
    assert [e.outcome for e in store.history(LMT)].count("left") == 1
    assert not store.may_use(LMT, "VIETA") and store.may_use(LMT, "JAUNUMI")
    assert store.state(LMT).consents["VIETA"].status == "lapsed"


def test_a_handover_applied_twice_is_recorded_once(store: ConsentStore,
                                                   catalog: Catalog) -> None:
    store.apply(req("give", "AUTO", channel="web"), catalog=catalog)
    first = store.reset(LMT, "handed over", channel="directory", event_id="dir:2:h",
                        note="holder A -> B")
    again = store.reset(LMT, "handed over", channel="directory", event_id="dir:2:h",
                        note="holder A -> B")
    assert [(c.event_id, c.replayed) for c in first] == [("dir:2:h/AUTO", False)]
    assert [(c.event_id, c.replayed) for c in again] == [("dir:2:h/AUTO", True)]
    resets = [e for e in store.history(LMT, all_holders=True) if e.action == "reset"]
    assert [(e.channel, e.note) for e in resets] == [("directory", "holder A -> B")]


def test_put_is_idempotent_and_a_return_with_another_holder_is_a_handover(
        store: ConsentStore) -> None:
    assert store.put_subscriber(SubscriberRow(LMT, "lmt", True, "A")) == ([], [])
    assert store.put_subscriber(SubscriberRow(LMT, "lmt", True, "A")) == ([], [])
    kinds, changes = store.put_subscriber(SubscriberRow(LMT, "other", True, "A"))
    assert kinds == ["changed_group"] and [c["kind"] for c in changes] == ["leave"]
    kinds, changes = store.put_subscriber(SubscriberRow(LMT, "lmt", True, "B"))
    assert kinds == ["changed_group", "new_holder"]
    assert [(c["kind"], c["old_holder"], c["new_holder"]) for c in changes] == [
        ("handover", "A", "B")]
    pending = store.pending_directory_changes()
    assert [r.kind for r in pending] == ["leave", "handover"]
    store.mark_directory_changes_queued([r.id for r in pending])
    assert store.pending_directory_changes() == []
