"""Audiences: every number with a consent in force now or at a past instant, with the feed
position the list is consistent with (PostgreSQL: through COPY; SQLite: a cursor)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from consent_core.catalog import Catalog
from consent_core.clock import FixedClock
from consent_store import api_reads
from consent_store.audience import open_audience
from consent_store.store import ConsentStore
from consent_store.views import SubscriberRow
from tests.store.conftest import T0, req

A, B, C, D = "37129100001", "37129100002", "37129100003", "37129100004"


def _history(store: ConsentStore, catalog: Catalog) -> None:
    store.import_subscribers([SubscriberRow(n, "lmt") for n in (A, B, C, D)])
    at = T0 + timedelta(days=1)
    store.apply_batch([req("give", "VIETA", msisdn=A, at=at),
                       req("give", "VIETA", msisdn=B, at=at + timedelta(seconds=1)),
                       req("give", "AUTO", msisdn=C, at=at + timedelta(seconds=2)),
                       req("give", "VIETA", msisdn=D, at=at + timedelta(seconds=3))],
                      catalog=catalog)
    store.apply_batch([req("withdraw", "VIETA", msisdn=B, at=at + timedelta(days=1)),
                       req("give", "VIETA", msisdn=C,
                           at=at + timedelta(days=1, microseconds=250))], catalog=catalog)
    store.erase(D, reason="Art. 17 request")


def _ndjson(store: ConsentStore, consent: str, at=None) -> tuple[int, list[dict]]:  # type: ignore[no-untyped-def]
    found = open_audience(store.engine, consent, at)
    rows = [json.loads(line) for line in b"".join(found.lines("ndjson")).splitlines()]
    return found.position, rows


def test_audience_now_lists_the_numbers_with_the_consent_given_and_the_feed_position(
        store: ConsentStore, catalog: Catalog) -> None:
    _history(store, catalog)
    position, rows = _ndjson(store, "VIETA")
    with store.engine.connect() as conn:
        assert position == api_reads.latest_position(conn)
    assert sorted(r["msisdn"] for r in rows) == [A, C]
    assert {r["position"] for r in rows} == {position}
    by = {r["msisdn"]: r for r in rows}
    # The same instants as every other read prints them (iso(): a fraction only when there is one).
    assert by[A]["since"] == store.state(A).to_dict()["consents"]["VIETA"]["since"]
    assert by[C]["since"] == store.state(C).to_dict()["consents"]["VIETA"]["since"]
    assert by[C]["since"].endswith(".000250Z")


def test_audience_at_a_past_instant_replays_the_ledger_like_show_at(
        store: ConsentStore, catalog: Catalog, clock: FixedClock) -> None:
    _history(store, catalog)
    at = T0 + timedelta(days=1, hours=1)
    _, rows = _ndjson(store, "VIETA", at)
    # D was erased later: its earlier rows no longer name it.
    assert sorted(r["msisdn"] for r in rows) == [A, B]
    for r in rows:
        assert store.state(r["msisdn"], at=at).to_dict()["consents"]["VIETA"]["status"] == "given"
    assert _ndjson(store, "VIETA", T0)[1] == []


def test_audience_as_csv_has_a_header_and_one_row_per_number(
        store: ConsentStore, catalog: Catalog) -> None:
    _history(store, catalog)
    found = open_audience(store.engine, "AUTO", None)
    text = b"".join(found.lines("csv")).decode()
    assert text.startswith("msisdn,since,position\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["msisdn"], int(r["position"])) for r in rows] == [(C, found.position)]
