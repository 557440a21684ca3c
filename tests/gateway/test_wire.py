"""The gateway → worker wire schema (change requests, delivery updates) round-trips through
JSON, and refuses what is not it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_core.changes import (
    BadRequest,
    BadUpdate,
    ChangeRequest,
    ReceiptUpdate,
    SubmitResult,
    parse_update,
)

text = st.text(max_size=30)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


@given(st.builds(SubmitResult, text, st.none() | text, text, instants, text)
       | st.builds(ReceiptUpdate, text, text, instants, text, text))
def test_updates_round_trip_through_json(update: SubmitResult | ReceiptUpdate) -> None:
    assert parse_update(json.loads(json.dumps(update.to_wire()))) == update


@pytest.mark.parametrize("data", [None, [], {"kind": "x"}, {"kind": "submit"},
                                  {"kind": "receipt", "message_id": "m"}])
def test_not_an_update_is_refused(data: object) -> None:
    with pytest.raises(BadUpdate):
        parse_update(data)


numbers = st.from_regex(r"\A371[0-9]{8}\Z")
consents = st.sampled_from(["JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"])


@given(numbers, st.sampled_from(["give", "withdraw"]), consents, instants,
       st.integers(min_value=0, max_value=2**62), st.none() | st.text(max_size=160),
       st.sampled_from([0, 8, 3]))
def test_change_requests_round_trip_through_json(msisdn: str, action: str, consent: str,
                                                 at: datetime, seq: int, text: str | None,
                                                 coding: int) -> None:
    """What the gateway builds is what the worker reads back, through the queue's JSON."""
    sent = ChangeRequest(event_id="e1", msisdn=msisdn, action=action, consent=consent,
                         channel="sms", received_at=at, ingest_seq=seq, text=text,
                         raw_hex="00", data_coding=coding, correlation_id="c1",
                         smsc={"conn": "x", "parts": 1})
    back = ChangeRequest.from_dict(json.loads(json.dumps(sent.to_dict())))
    assert back == sent


@pytest.mark.parametrize("change", [
    {"msisdn": "0"}, {"action": "maybe"}, {"consent": "SOMETHING"}, {"channel": "fax"},
    {"action": "unknown"},  # an unknown command names no consent
])
def test_a_change_request_outside_the_schema_is_refused(change: dict[str, str]) -> None:
    data = {"event_id": "e1", "msisdn": "37120000001", "action": "give", "consent": "VIETA",
            "channel": "sms", "received_at": "2026-01-01T00:00:00Z", **change}
    with pytest.raises(BadRequest):
        ChangeRequest.from_dict(data)


def test_the_store_and_the_gateway_share_one_class() -> None:
    import consent_store

    assert consent_store.ChangeRequest is ChangeRequest
    assert consent_store.BadRequest is BadRequest
