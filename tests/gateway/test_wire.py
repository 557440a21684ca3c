"""The gateway → worker delivery-update schema round-trips, and refuses what is not it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_queue.wire import BadUpdate, ReceiptUpdate, SubmitResult, parse_update

text = st.text(max_size=30)


@given(st.builds(SubmitResult, text, st.none() | text, text, text)
       | st.builds(ReceiptUpdate, text, text, text, text, text))
def test_updates_round_trip_through_json(update: SubmitResult | ReceiptUpdate) -> None:
    assert parse_update(json.loads(json.dumps(update.to_wire()))) == update


@pytest.mark.parametrize("data", [None, [], {"kind": "x"}, {"kind": "submit"},
                                  {"kind": "receipt", "message_id": "m"}])
def test_not_an_update_is_refused(data: object) -> None:
    with pytest.raises(BadUpdate):
        parse_update(data)
