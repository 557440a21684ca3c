"""What subscribers type, end to end: smsc-sim → sms-gateway → Redis/RQ → consent-workers →
store → reply. Help, bare STOP, VISS STOP, near misses and the JĀ/NĒ confirmation, through
the real processes; every reply one SMS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consent_core.model import Outcome
from smsc_sim.threaded import SimulatorThread
from tests.e2e.test_pipeline import CATALOG, LMT, MINOR, import_directory, reply, show
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.e2e


def say(sim: SimulatorThread, msisdn: str, text: str) -> str:
    """Send ``text``; the one reply, which must have travelled as one SMS."""
    before = len(sim.replies_for(msisdn))
    sim.send_mo(msisdn, text)
    assert wait_until(lambda: len(sim.replies_for(msisdn)) > before, 15), \
        f"no reply to {text!r} from {msisdn}"
    answer = sim.replies_for(msisdn)[-1]
    assert answer.parts == 1, (text, answer.text)
    return answer.text


def given(p: Pipeline, msisdn: str) -> list[str]:
    return sorted(k for k, v in show(p, msisdn)["consents"].items() if v["status"] == "given")


def test_what_subscribers_type(postgres_url: str, make_pipeline, sim: SimulatorThread,  # type: ignore[no-untyped-def]
                               tmp_path: Path) -> None:
    p = make_pipeline(postgres_url)
    import_directory(p, tmp_path)
    p.gateway()
    first = p.worker(name="worker-1")
    p.worker(name="worker-2")
    assert sim.wait_for_bind(20), p.logs()[-3000:]

    # HELP and its spellings get the help text; an unknown text the short help.
    for text in ("HELP", "palīgs", "?"):
        assert say(sim, LMT, text) == reply(Outcome.HELP, None)
    assert say(sim, LMT, "gribu pici") == reply(Outcome.UNKNOWN_COMMAND, None)

    # A bare STOP changes nothing and says what is in force.
    assert say(sim, LMT, "STOP") == reply(Outcome.NONE_IN_FORCE, None)
    assert say(sim, LMT, "VIETA") == reply(Outcome.GIVEN, "VIETA")
    assert say(sim, LMT, "AUTO") == reply(Outcome.GIVEN, "AUTO")
    assert say(sim, LMT, "STOP") == CATALOG.reply(Outcome.STOP_INFO, None, "lv",
                                                  ("AUTO", "VIETA"))
    assert given(p, LMT) == ["AUTO", "VIETA"]

    # A near-miss withdrawal is applied at once.
    assert say(sim, LMT, "vietu stop, paldies") == reply(Outcome.WITHDRAWN, "VIETA")
    assert given(p, LMT) == ["AUTO"]

    # A near-miss give asks; NĒ cancels.
    assert say(sim, LMT, "sadarbību") == reply(Outcome.CONFIRM_ASKED, "SADARBIBA")
    assert say(sim, LMT, "NĒ") == reply(Outcome.CONFIRM_DECLINED, "SADARBIBA")
    assert given(p, LMT) == ["AUTO"]

    # A near-miss give asks; JĀ applies it — also after the worker that asked has stopped.
    assert say(sim, LMT, "Lūdzu JAUNUMUS") == reply(Outcome.CONFIRM_ASKED, "JAUNUMI")
    assert given(p, LMT) == ["AUTO"]
    first.terminate()
    assert say(sim, LMT, "Jā") == reply(Outcome.GIVEN, "JAUNUMI")
    assert given(p, LMT) == ["AUTO", "JAUNUMI"]

    # VISS STOP withdraws everything in force: one event each, one reply.
    assert say(sim, LMT, "VISS STOP") == CATALOG.reply(Outcome.ALL_WITHDRAWN, None, "lv",
                                                       ("JAUNUMI", "AUTO"))
    assert given(p, LMT) == []
    assert say(sim, LMT, "STOP VISS") == reply(Outcome.NONE_IN_FORCE, None)


    # The minor's refusal fits one SMS too.
    assert say(sim, MINOR, "JAUNUMI") == reply(Outcome.REFUSED_NOT_INDEPENDENT, "JAUNUMI")

    history = json.loads(p.ctl("history", LMT, "--json").stdout)
    events = history if isinstance(history, list) else history["events"]
    rows = [(e["text"], e["consent"], e["outcome"], e["understood"], e["match_rule"])
            for e in events]
    assert ("vietu stop, paldies", "VIETA", "withdrawn", "VIETA STOP",
            "punctuation+filler+form") in rows
    assert ("Lūdzu JAUNUMUS", "JAUNUMI", "confirm_asked", "JAUNUMI", "filler+form") in rows
    assert ("Jā", "JAUNUMI", "given", "JAUNUMI", "exact+filler+form") in rows
    assert [r[1] for r in rows if r[0] == "VISS STOP"] == ["JAUNUMI", "AUTO"]
    confirmation = next(e for e in events if e["text"] == "Jā")
    assert confirmation["confirmed_text"] == "Lūdzu JAUNUMUS"

    # Several commands in one text: each applied in the order written, one SMS back (from
    # a second LMT number: the first has had its replies_per_minute).
    second = "37129000004"
    (tmp_path / "second.csv").write_text(f"{second},lmt\n")
    p.ctl("subscribers", "import", str(tmp_path / "second.csv"))
    assert say(sim, second, "VIETA") == reply(Outcome.GIVEN, "VIETA")
    assert say(sim, second, "METADATI") == reply(Outcome.GIVEN, "METADATI")
    several = "METADATI STOP, AUTO STOP un VIETA STOP"
    assert say(sim, second, several) == CATALOG.reply(
        Outcome.PARTLY_WITHDRAWN, None, "lv", ("METADATI", "VIETA"), ("AUTO",))
    assert given(p, second) == []
    # A withdrawal in the subscriber's own words withdraws; a question never gives.
    assert say(sim, second, "JAUNUMI") == reply(Outcome.GIVEN, "JAUNUMI")
    natural = "Labdien, nevēlos vairs saņemt jaunumus"
    assert say(sim, second, natural) == reply(Outcome.WITHDRAWN, "JAUNUMI")
    assert say(sim, second, "VIETA?") == reply(Outcome.EXPLAINED, "VIETA")
    assert given(p, second) == []
    events = json.loads(p.ctl("history", second, "--json").stdout)
    rows = [(e["text"], e["consent"], e["outcome"], e["understood"], e["match_rule"])
            for e in (events if isinstance(events, list) else events["events"])]
    assert [(r[1], r[2]) for r in rows if r[0] == several] == [
        ("METADATI", "withdrawn"), ("AUTO", "already_withdrawn"), ("VIETA", "withdrawn")]
    assert (natural, "JAUNUMI", "withdrawn", "JAUNUMI STOP",
            "punctuation+filler+form+words") in rows
