"""consentctl's output filter: nothing printed can act on a terminal, JSON stays valid and
round-trips the text exactly (property test over any text)."""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentctl.output import escaping, print_json, print_table

UNSAFE = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0x061C,
                           0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}


class Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def _captured(work: object, monkeypatch: pytest.MonkeyPatch) -> str:
    sink = Sink()
    monkeypatch.setattr(sys, "stdout", sink)
    with escaping():
        work()  # type: ignore[operator]
    return sink.text


@given(st.text())
def test_json_output_is_valid_round_trips_and_holds_nothing_unsafe(text: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        out = _captured(lambda: print_json({"text": text, "list": [text]}), mp)
    assert json.loads(out) == {"text": text, "list": [text]}
    assert not (set(out) - {"\n"}) & UNSAFE


@given(st.text())
def test_table_and_plain_output_hold_nothing_unsafe(text: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        out = _captured(lambda: (print_table(["TEXT"], [[text]]), print(f"reason: {text}")), mp)
    assert not (set(out) - {"\n"}) & UNSAFE
    table_line = out.split("\n")[1]
    assert "\n" not in table_line


def test_latvian_letters_and_emoji_stay_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _captured(lambda: print_json({"t": "Jā, lūdzu 👍"}), monkeypatch)
    assert "Jā, lūdzu 👍" in out
