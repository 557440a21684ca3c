"""Reads: state now and at a past instant, history order, export, may_use, today's counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from consent_core.catalog import Catalog
from consent_core.model import CONSENTS
from consent_store.errors import BadRequest, NotFound
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, OTHER, T0, req


def test_state_lists_all_five_consents_in_spec_shape(store: ConsentStore,
                                                     catalog: Catalog) -> None:
    store.apply(req("give", "VIETA", at=T0), catalog=catalog)
    data = store.state(LMT).to_dict()
    assert data == {
        "msisdn": LMT, "client_group": "lmt",
        "consents": {c: ({"status": "given", "since": "2025-11-24T20:01:02Z", "channel": "sms"}
                         if c == "VIETA" else {"status": "none", "since": None, "channel": None})
                     for c in CONSENTS},
    }
    assert list(data["consents"]) == list(CONSENTS)


def test_state_at_a_past_instant_replays_the_ledger(store: ConsentStore,
                                                    catalog: Catalog) -> None:
    t = T0 + timedelta(days=1)
    store.apply_batch([req("give", "VIETA", at=t), req("give", "AUTO", at=t)], catalog=catalog)
    store.apply(req("withdraw", "VIETA", at=t + timedelta(hours=1)), catalog=catalog)
    store.apply(req("give", "VIETA", at=t + timedelta(hours=2), channel="web"), catalog=catalog)

    def at(delta: timedelta) -> dict[str, str]:
        s = store.state(LMT, at=t + delta)
        return {c: v.status for c, v in s.consents.items() if v.status != "none"}

    assert at(-timedelta(seconds=1)) == {}
    assert at(timedelta(0)) == {"VIETA": "given", "AUTO": "given"}
    assert at(timedelta(minutes=90)) == {"VIETA": "withdrawn", "AUTO": "given"}
    later = store.state(LMT, at=t + timedelta(hours=3)).consents["VIETA"]
    assert (later.status, later.since, later.channel) == ("given", t + timedelta(hours=2), "web")
    assert store.state(LMT, at=t + timedelta(hours=3)).to_dict() == store.state(LMT).to_dict()


def test_may_use_now_and_at_a_past_instant(store: ConsentStore, catalog: Catalog) -> None:
    t = T0 + timedelta(days=2)
    store.apply(req("give", "METADATI", at=t), catalog=catalog)
    store.apply(req("withdraw", "METADATI", at=t + timedelta(hours=1)), catalog=catalog)
    assert not store.may_use(LMT, "METADATI")
    assert store.may_use(LMT, "METADATI", at=t + timedelta(minutes=30))
    assert not store.may_use(LMT, "METADATI", at=t - timedelta(minutes=30))
    assert not store.may_use(LMT, "VIETA")
    assert not store.may_use("37100000000", "VIETA")
    with pytest.raises(BadRequest):
        store.may_use(LMT, "PIZZA")


def test_history_is_oldest_first_by_time_received(store: ConsentStore,
                                                  catalog: Catalog) -> None:
    t = T0 + timedelta(days=3)
    # Applied out of order: the one received first is applied last.
    store.apply(req("give", "AUTO", at=t + timedelta(seconds=2), event_id="b"), catalog=catalog)
    store.apply(req("give", "VIETA", at=t + timedelta(seconds=3), event_id="c"), catalog=catalog)
    store.apply(req("unknown", None, at=t + timedelta(seconds=1), event_id="a"), catalog=catalog)
    assert [e.event_id for e in store.history(LMT)] == ["a", "b", "c"]
    assert store.history(OTHER) == []


def test_export_holds_everything_about_the_number_and_no_secret(
        database_url: str, store: ConsentStore, catalog: Catalog) -> None:
    store.apply(req("give", "JAUNUMI", text="jaunumi"), catalog=catalog)
    store.apply(req("give", "VIETA", msisdn=OTHER), catalog=catalog)  # someone else's
    data = store.export(LMT)
    text = json.dumps(data)  # JSON-able as it is
    assert data["msisdn"] == LMT
    assert data["subscriber"]["client_group"] == "lmt"
    assert data["subscriber"]["independent"] is True
    assert data["consents"]["JAUNUMI"]["status"] == "given"
    assert [h["text"] for h in data["history"]] == ["jaunumi"]
    assert len(data["replies"]) == 1
    assert OTHER not in text
    assert "postgres" not in text and "sqlite" not in text and database_url not in text


def test_unknown_number_is_not_found(store: ConsentStore) -> None:
    with pytest.raises(NotFound):
        store.state("37120000000")
    with pytest.raises(NotFound):
        store.export("37120000000")


def test_number_only_in_directory_is_found_with_all_none(store: ConsentStore) -> None:
    state = store.state(OTHER)
    assert state.client_group == "other"
    assert {v.status for v in state.consents.values()} == {"none"}


def test_counts_today_by_consent_and_action(store: ConsentStore, catalog: Catalog) -> None:
    now = T0 + timedelta(days=10)
    store.apply_batch([req("give", "VIETA", at=now), req("withdraw", "VIETA", at=now),
                       req("give", "JAUNUMI", msisdn=OTHER, at=now),
                       req("unknown", None, at=now),
                       req("give", "AUTO", at=now - timedelta(days=1))], catalog=catalog)
    assert store.counts_today(now + timedelta(hours=1)) == {
        "VIETA": {"give": 1, "withdraw": 1}, "JAUNUMI": {"give": 1}, "-": {"unknown": 1}}
