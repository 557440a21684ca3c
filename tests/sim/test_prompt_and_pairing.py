"""The prompt's texts as a tester types them (quotes, escapes, the empty text), and replies
paired with the text they answer when an earlier text of the number got none."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsc_sim.commands import CommandError, Session
from smsc_sim.text import TextSyntaxError, typed_text
from smsc_sim.threaded import SimulatorThread
from tests.sim.conftest import Esme, wait


@pytest.mark.parametrize(("typed", "text"), [
    ("VIETA STOP", "VIETA STOP"),
    ('  "  jaunumi  stop " ', "  jaunumi  stop "),
    ('""', ""),
    ("''", ""),
    (r"rinda\notrā", "rinda\notrā"),
    (r"pie\u0161\u0137ir", "piešķir"),
    (r"\x41UTO", "AUTO"),
    (r'"say \"hi\""', 'say "hi"'),
    (r"a\\b", "a\\b"),
    (r"C:\path", "C:\\path"),  # not an escape: the backslash stays
    (r"\U0001F600", "\U0001F600"),
])
def test_typed_texts(typed: str, text: str) -> None:
    assert typed_text(typed) == text


@pytest.mark.parametrize("typed", ['"open', r'"a" b', r"\u12", r"\xZZ"])
def test_bad_typed_texts_say_why(typed: str) -> None:
    with pytest.raises(TextSyntaxError):
        typed_text(typed)


@given(st.text())
def test_any_text_quoted_and_escaped_comes_back(text: str) -> None:
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert typed_text(quoted) == text


def test_nothing_typed_is_a_usage_error_but_quotes_send_the_empty_text(
        sim: SimulatorThread, esmes: list[Esme]) -> None:
    esmes.append(Esme(sim.port))
    assert sim.wait_for_bind(5)
    out: list[str] = []
    session = Session(sim, out=out.append)
    with pytest.raises(CommandError, match="usage"):
        session.run("37129123456")
    session.run('37129123456 ""')
    session.run('37129123456 "  jaunumi  stop "')
    session.run(r"send 37129123456 pie\u0161\u0137ir")
    assert wait(lambda: len(esmes[0].received) == 3, 5)
    got = [(p.data_coding, p.short_message or b"") for p in esmes[0].received]
    assert got == [(0, b""), (0, b"  jaunumi  stop "), (8, "piešķir".encode("utf-16-be"))]
    assert out[0] == "→ 37129123456: ''" and out[1] == "→ 37129123456: '  jaunumi  stop '"


def test_reply_after_a_rate_limited_one_pairs_with_the_text_it_answers(
        sim: SimulatorThread, esmes: list[Esme]) -> None:
    answers = {"VIETA": b"Piekrisana VIETA sanemta", "AUTO": b"Piekrisana AUTO sanemta",
               "SADARBIBA": b"Piekrisana SADARBIBA sanemta"}

    def handler(esme: Esme, p: Any) -> None:
        text = p.short_message.decode()
        if text != "VIETA":  # the first text's reply is rate-limited: none is sent
            esme.reply(p, answers[text])

    esmes.append(Esme(sim.port, handler=handler))
    first = sim.send_mo("37129123456", "VIETA")
    second = sim.send_mo("37129123456", "AUTO")
    assert sim.wait_for_replies(1, 5)
    third = sim.send_mo("37129123456", "SADARBIBA")
    assert sim.wait_for_replies(2, 5)
    by_mo = {r.mo_id: r.text for r in sim.replies()}
    assert by_mo == {second: "Piekrisana AUTO sanemta", third: "Piekrisana SADARBIBA sanemta"}
    assert first not in by_mo
    stats = sim.stats()
    assert stats["skipped_unanswered"] == 1 and stats["unanswered"] == 0
    assert stats["answered_twice"] == 0
