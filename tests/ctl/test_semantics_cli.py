"""consentctl for the seed's rules and the proof, as operators run it (subprocesses):
verify, contact, lapse --as-of, back-dated and guardian grants with exit 6, handover,
erasure, escaping of whatever a subscriber typed, --json everywhere."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_store.engine import head_revision
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from consentctl.cli import EXIT_REFUSED, EXIT_USAGE, EXIT_VERIFY_FAILED, build_parser
from tests.ctl import test_cli
from tests.ctl.test_cli import Ctl

ctl = test_cli.ctl  # the same fixture: a migrated database and a config file

N = "37129123456"
MINOR = "37129000002"
HOSTILE = "A\x1b[2J\u202eB\u2028C\x9bD\x07"
UNSAFE = ["\x1b", "\u202e", "\u2028", "\x9b", "\x07"]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _directory(ctl: Ctl) -> None:
    (ctl.tmp / "dir.csv").write_text(f"{N},lmt\n{MINOR},lmt,false\n")
    assert ctl("subscribers", "import", "dir.csv").returncode == 0


def test_verify_says_intact_then_names_the_changed_event(ctl: Ctl) -> None:
    _directory(ctl)
    assert ctl("grant", N, "VIETA", "--channel", "web").returncode == 0
    withdraw = json.loads(ctl("withdraw", N, "VIETA", "--channel", "web", "--json").stdout)
    ok = ctl("verify", N)
    assert ok.returncode == 0 and "intact (2 rows in 1 chains)" in ok.stdout
    assert ctl("verify").returncode == 0
    engine = sa.create_engine(ctl.url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE consent_events SET outcome = 'already_withdrawn' "
                             "WHERE event_id = :e"), {"e": withdraw["event_id"]})
    engine.dispose()
    broken = ctl("verify", N)
    assert broken.returncode == EXIT_VERIFY_FAILED
    assert f"first broken event {withdraw['event_id']}" in broken.stdout
    data = json.loads(ctl("verify", "--json").stdout)
    assert data["intact"] is False and data["first_break"]["event_id"] == withdraw["event_id"]


def test_contact_restarts_the_inactivity_period_and_lapse_previews_as_of(ctl: Ctl) -> None:
    _directory(ctl)
    now = datetime.now(UTC)
    given = now - timedelta(days=170)
    assert ctl("grant", N, "JAUNUMI", "--channel", "customer_centre",
               "--at", _iso(given)).returncode == 0
    in_a_month = _iso(now + timedelta(days=30))
    preview = json.loads(ctl("lapse", "--dry-run", "--as-of", in_a_month, "--json").stdout)
    assert [c["msisdn"] for c in preview["lapsed"]] == [N]
    future = ctl("lapse", "--as-of", in_a_month)
    assert future.returncode == EXIT_USAGE and "future" in future.stderr

    called = ctl("contact", N, "--channel", "call", "--at", _iso(now - timedelta(days=10)),
                 "--note", "asked about roaming", "--json")
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["channel"] == "call"
    preview = json.loads(ctl("lapse", "--dry-run", "--as-of", in_a_month, "--json").stdout)
    assert preview["lapsed"] == []
    later = ctl("contact", N, "--channel", "email", "--at", _iso(now + timedelta(hours=1)))
    assert later.returncode == EXIT_USAGE and "future" in later.stderr
    assert ctl("contact", N, "--channel", "pigeon").returncode == EXIT_USAGE


def test_back_dated_grant_refused_in_the_future_and_superseded_by_a_later_change(
        ctl: Ctl) -> None:
    _directory(ctl)
    now = datetime.now(UTC)
    ahead = ctl("grant", N, "VIETA", "--channel", "customer_centre",
                "--at", _iso(now + timedelta(days=1)))
    assert ahead.returncode == EXIT_USAGE and "in the future" in ahead.stderr
    assert ctl("withdraw", N, "VIETA", "--channel", "web").returncode == 0
    paper = ctl("grant", N, "VIETA", "--channel", "customer_centre",
                "--at", _iso(now - timedelta(days=2)), "--reference", "form 77")
    assert paper.returncode == EXIT_REFUSED
    assert "superseded" in paper.stdout and "later change of VIETA" in paper.stdout
    hist = json.loads(ctl("history", N, "--json").stdout)
    late = [e for e in hist if e["outcome"] == "superseded"]
    assert len(late) == 1 and late[0]["entered_at"] and late[0]["reference"] == "form 77"
    # The later withdrawal (nothing was in force) settled VIETA: the paper grant stays out.
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["VIETA"]["status"] \
        == "none"


def test_minor_line_refused_exit_6_guardian_at_the_customer_centre_given(ctl: Ctl) -> None:
    _directory(ctl)
    refused = ctl("grant", MINOR, "VIETA", "--channel", "customer_centre")
    assert refused.returncode == EXIT_REFUSED and "refused_not_independent" in refused.stdout
    web = ctl("grant", MINOR, "VIETA", "--channel", "web", "--on-behalf", "guardian")
    assert web.returncode == EXIT_USAGE and "customer_centre" in web.stderr
    guardian = ctl("grant", MINOR, "VIETA", "--channel", "customer_centre", "--on-behalf",
                   "guardian", "--agent", "agent-7", "--json")
    assert guardian.returncode == 0, guardian.stdout
    assert json.loads(guardian.stdout)["outcome"] == "given"
    last = json.loads(ctl("history", MINOR, "--json").stdout)[-1]
    assert (last["on_behalf"], last["agent"]) == ("guardian", "agent-7")
    adult = ctl("grant", N, "VIETA", "--channel", "customer_centre", "--on-behalf", "guardian")
    assert adult.returncode == EXIT_REFUSED and "acts for themselves" in adult.stderr
    assert json.loads(ctl("show", N, "--json").stdout)["consents"]["VIETA"]["status"] == "none"


def test_handover_history_export_and_show_at_before_the_reset(ctl: Ctl) -> None:
    _directory(ctl)
    assert ctl("grant", N, "VIETA", "--channel", "web").returncode == 0
    before = datetime.now(UTC)
    assert ctl("reset", N, "--reason", "number reassigned", "--yes").returncode == 0
    assert ctl("grant", N, "AUTO", "--channel", "web").returncode == 0
    mine = json.loads(ctl("history", N, "--json").stdout)
    assert [(e["consent"], e["action"]) for e in mine] == [("AUTO", "give")]
    audit = json.loads(ctl("history", N, "--all-holders", "--json").stdout)
    assert [e["action"] for e in audit] == ["give", "reset", "give"]
    export = json.loads(ctl("export", N, "--json").stdout)
    assert [e["consent"] for e in export["history"]] == ["AUTO"]
    assert export["consents"]["VIETA"]["status"] == "none"
    then = json.loads(ctl("show", N, "--json", "--at", before.isoformat()).stdout)
    assert then["consents"]["VIETA"]["status"] == "given"


def test_erased_client_keeps_directory_and_can_give_again(ctl: Ctl) -> None:
    _directory(ctl)
    assert ctl("grant", N, "VIETA", "--channel", "web").returncode == 0
    erase = ctl("erase", N, "--reason", "data subject request", "--yes")
    assert erase.returncode == 0 and "kept (LMT data)" in erase.stdout
    again = ctl("grant", N, "VIETA", "--channel", "web")
    assert again.returncode == 0 and "VIETA: given" in again.stdout
    assert ctl("verify", N).returncode == 0


def test_whatever_a_subscriber_typed_is_escaped_in_human_and_json_output(ctl: Ctl) -> None:
    _directory(ctl)
    store = ConsentStore(ctl.url)
    store.apply(ChangeRequest("hostile-1", N, "unknown", None, "sms", datetime.now(UTC),
                              text=HOSTILE), catalog=load_catalog())
    store.close()
    for args in (("history", N), ("history", N, "--json"), ("export", N)):
        out = ctl(*args)
        assert out.returncode == 0, out.stderr
        assert not any(c in out.stdout for c in UNSAFE), args
    texts = [e["text"] for e in json.loads(ctl("history", N, "--json").stdout)]
    assert texts == [HOSTILE]  # valid JSON, the text exactly as received
    assert "\\u001b[2J\\u202eB" in ctl("history", N).stdout
    bad = ctl("show", "29\u202e123")
    assert bad.returncode == EXIT_USAGE and "\u202e" not in bad.stderr and "\\u202e" in bad.stderr


def test_every_command_takes_json() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    nested = [a for a in sub._actions
                              if isinstance(a, argparse._SubParsersAction)]
                    if nested:
                        walk(sub, f"{prefix}{name} ")
                    elif "--json" not in sub._option_string_actions:
                        missing.append(prefix + name)

    walk(build_parser(), "")
    assert missing == []


def test_db_upgrade_and_import_answer_in_json(ctl: Ctl, tmp_path: Path) -> None:
    up = json.loads(ctl("db", "upgrade", "--json").stdout)
    assert up["revision"] == head_revision()
    (ctl.tmp / "d.csv").write_text(f"{N},lmt\nbad,lmt\n")
    imp = ctl("subscribers", "import", "d.csv", "--json")
    assert imp.returncode == 3 and json.loads(imp.stdout) == {
        "file": "d.csv", "imported": 1, "bad_rows": 1}
