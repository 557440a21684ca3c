"""What subscribers type, decided at apply time: help, bare STOP, VISS STOP, near misses and
their confirmation, each recorded in the ledger with what was understood and by which rule."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from consent_core.catalog import Catalog
from consent_core.model import Give, Outcome, Withdraw
from consent_core.parse import parse
from consent_store.requests import ChangeRequest
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, MINOR, T0, req


class Phone:
    """One number texting the store, as the gateway would queue its texts: an exact
    command as give/withdraw, everything else as ``unknown`` with the text."""

    def __init__(self, store: ConsentStore, catalog: Catalog, msisdn: str = LMT) -> None:
        self.store, self.catalog, self.msisdn = store, catalog, msisdn
        self.at = T0
        self.n = 0

    def send(self, text: str, *, after: timedelta = timedelta(seconds=30),
             window: timedelta = timedelta(minutes=10)) -> tuple[Outcome, str | None]:
        self.at += after
        self.n += 1
        command = parse(text)
        action = "give" if isinstance(command, Give) else \
            "withdraw" if isinstance(command, Withdraw) else "unknown"
        consent = None if action == "unknown" else command.consent  # type: ignore[union-attr]
        [applied] = self.store.apply_batch(
            [req(action, consent, msisdn=self.msisdn, at=self.at, seq=self.n, text=text,
                 event_id=f"{self.msisdn}-{self.n}")],
            catalog=self.catalog, confirm_window=window)
        return applied.outcome, applied.reply_text

    def given(self) -> list[str]:
        return sorted(k for k, s in self.store.state(self.msisdn).consents.items()
                      if s.status == "given")

    def last_rows(self, n: int = 1) -> list[tuple[str | None, str, str | None, str | None]]:
        return [(e.consent, e.outcome, e.understood, e.match_rule)
                for e in self.store.history(self.msisdn)[-n:]]


@pytest.fixture
def phone(store: ConsentStore, catalog: Catalog) -> Phone:
    return Phone(store, catalog)


@pytest.mark.parametrize("text", ["HELP", "INFO", "PALĪGS", "PALIGS", "?", "palīgs?"])
def test_help_words_get_the_help_text(phone: Phone, catalog: Catalog, text: str) -> None:
    outcome, reply = phone.send(text)
    assert (outcome, reply) == (Outcome.HELP, catalog.reply(Outcome.HELP, None))
    assert phone.last_rows() == [(None, "help", "PALĪGS", "exact")]


def test_an_unknown_text_gets_the_short_help(phone: Phone, catalog: Catalog) -> None:
    assert phone.send("kur ir rēķins") == (Outcome.UNKNOWN_COMMAND,
                                           catalog.reply(Outcome.UNKNOWN_COMMAND, None))
    assert phone.last_rows() == [(None, "unknown_command", None, "nothing_close")]
    phone.send("JAUNUMI VIETA")
    assert phone.last_rows() == [(None, "unknown_command", None, "two_consents")]


def test_bare_stop_changes_nothing_and_lists_what_is_in_force(phone: Phone,
                                                              catalog: Catalog) -> None:
    assert phone.send("STOP") == (Outcome.NONE_IN_FORCE,
                                  catalog.reply(Outcome.NONE_IN_FORCE, None))
    phone.send("VIETA")
    phone.send("JAUNUMI")
    outcome, reply = phone.send("stop")
    assert outcome is Outcome.STOP_INFO
    assert reply == catalog.reply(Outcome.STOP_INFO, None, "lv", ("JAUNUMI", "VIETA"))
    assert "JAUNUMI, VIETA" in (reply or "") and "VISS STOP" in (reply or "")
    assert phone.given() == ["JAUNUMI", "VIETA"]
    assert phone.last_rows() == [(None, "stop_info", "STOP", "exact")]


@pytest.mark.parametrize("text", ["VISS STOP", "STOP VISS", "VISAS STOP", "visas stop!"])
def test_viss_stop_withdraws_everything_one_event_each_one_reply(
        phone: Phone, store: ConsentStore, catalog: Catalog, text: str) -> None:
    for keyword in ("JAUNUMI", "AUTO", "SADARBIBA"):
        phone.send(keyword)
    before = len(store.history(LMT))
    outcome, reply = phone.send(text)
    assert outcome is Outcome.WITHDRAWN
    assert reply == catalog.reply(Outcome.ALL_WITHDRAWN, None, "lv",
                                  ("JAUNUMI", "AUTO", "SADARBIBA"))
    assert phone.given() == []
    rows = store.history(LMT)[before:]
    assert [(r.consent, r.outcome, r.understood) for r in rows] == [
        ("JAUNUMI", "withdrawn", "VISS STOP"), ("AUTO", "withdrawn", "VISS STOP"),
        ("SADARBIBA", "withdrawn", "VISS STOP")]
    assert [r.text for r in rows] == [text] * 3
    assert [r.reply_text is not None for r in rows] == [True, False, False]
    assert len([r for r in store.export(LMT)["replies"] if r["text"] == reply]) == 1
    assert phone.send(text)[0] is Outcome.NONE_IN_FORCE


def test_viss_stop_replayed_changes_nothing(store: ConsentStore, catalog: Catalog) -> None:
    store.apply(req("give", "VIETA"), catalog=catalog)
    stop_all = req("unknown", None, text="VISS STOP", event_id="all-1")
    first = store.apply(stop_all, catalog=catalog)
    again = store.apply(stop_all, catalog=catalog)
    assert again.replayed and again.reply_text == first.reply_text
    assert len(store.history(LMT)) == 2


@pytest.mark.parametrize(("text", "consent", "rule"), [
    ("vietu stop", "VIETA", "form"),
    ("STOP JAUNUMUS", "JAUNUMI", "form"),
    ("VIETA STPO", "VIETA", "typo"),
    ("Lūdzu VIETA STOP, paldies", "VIETA", "punctuation+filler"),
    ("VIETA STOP 👍", "VIETA", "punctuation"),
])
def test_a_near_miss_withdrawal_is_applied_at_once_and_says_what_was_understood(
        phone: Phone, catalog: Catalog, text: str, consent: str, rule: str) -> None:
    phone.send(consent)
    outcome, reply = phone.send(text)
    assert (outcome, reply) == (Outcome.WITHDRAWN, catalog.reply(Outcome.WITHDRAWN, consent))
    assert (reply or "").startswith(f"{consent} STOP:")
    assert phone.given() == []
    assert phone.last_rows() == [(consent, "withdrawn", f"{consent} STOP", rule)]


@pytest.mark.parametrize("yes", ["JĀ", "JA", "Jā", "ja"])
def test_a_near_miss_give_waits_for_ja(phone: Phone, store: ConsentStore, catalog: Catalog,
                                       yes: str) -> None:
    outcome, reply = phone.send("jaunumus")
    assert (outcome, reply) == (Outcome.CONFIRM_ASKED,
                                catalog.reply(Outcome.CONFIRM_ASKED, "JAUNUMI"))
    assert phone.given() == []
    assert phone.last_rows() == [("JAUNUMI", "confirm_asked", "JAUNUMI", "form")]
    outcome, reply = phone.send(yes, after=timedelta(minutes=9))
    assert (outcome, reply) == (Outcome.GIVEN, catalog.reply(Outcome.GIVEN, "JAUNUMI"))
    assert phone.given() == ["JAUNUMI"]
    ask, answer = store.history(LMT)[-2:]
    assert (answer.action, answer.consent, answer.outcome, answer.text) == (
        "give", "JAUNUMI", "given", yes)
    assert (answer.understood, answer.match_rule) == ("JAUNUMI", "exact+form")
    assert (answer.confirms_event_id, answer.confirmed_text) == (ask.event_id, "jaunumus")
    # The JĀ is used up: another one has nothing to confirm.
    assert phone.send(yes)[0] is Outcome.NOTHING_TO_CONFIRM


@pytest.mark.parametrize("no", ["NĒ", "NE", "ne"])
def test_ne_cancels_a_near_miss_give(phone: Phone, store: ConsentStore, catalog: Catalog,
                                     no: str) -> None:
    phone.send("vietu")
    assert phone.send(no) == (Outcome.CONFIRM_DECLINED,
                              catalog.reply(Outcome.CONFIRM_DECLINED, "VIETA"))
    assert phone.given() == []
    assert store.history(LMT)[-1].confirms_event_id == store.history(LMT)[-2].event_id
    assert phone.send("JĀ")[0] is Outcome.NOTHING_TO_CONFIRM
    assert phone.given() == []


def test_any_other_text_cancels_a_near_miss_give(phone: Phone) -> None:
    phone.send("sadarbību")
    assert phone.send("HELP")[0] is Outcome.HELP
    assert phone.send("JĀ")[0] is Outcome.NOTHING_TO_CONFIRM
    assert phone.given() == []


def test_ja_after_the_window_confirms_nothing(phone: Phone) -> None:
    phone.send("metadatus")
    assert phone.send("JĀ", after=timedelta(minutes=10, seconds=1))[0] \
        is Outcome.NOTHING_TO_CONFIRM
    assert phone.given() == []
    phone.send("metadatus")
    assert phone.send("JĀ", after=timedelta(minutes=2), window=timedelta(minutes=1))[0] \
        is Outcome.NOTHING_TO_CONFIRM
    phone.send("metadatus")
    assert phone.send("JĀ", after=timedelta(minutes=30), window=timedelta(hours=1))[0] \
        is Outcome.GIVEN


def test_ja_from_another_number_confirms_nothing(store: ConsentStore,
                                                 catalog: Catalog) -> None:
    Phone(store, catalog).send("jaunumus")
    other = Phone(store, catalog, msisdn="37129999999")
    store.import_subscribers([("37129999999", "lmt", True)])
    assert other.send("JĀ")[0] is Outcome.NOTHING_TO_CONFIRM
    assert not store.may_use(LMT, "JAUNUMI")


def test_ask_and_ja_in_one_batch(store: ConsentStore, catalog: Catalog) -> None:
    out = store.apply_batch([req("unknown", None, text="vietas", seq=1),
                             req("unknown", None, text="JĀ", seq=2)], catalog=catalog)
    assert [o.outcome for o in out] == [Outcome.CONFIRM_ASKED, Outcome.GIVEN]
    assert store.may_use(LMT, "VIETA")


def test_a_near_miss_give_that_would_change_nothing_is_answered_at_once(
        store: ConsentStore, catalog: Catalog) -> None:
    minor = Phone(store, catalog, msisdn=MINOR)
    assert minor.send("jaunumus") == (
        Outcome.REFUSED_NOT_INDEPENDENT, catalog.reply(Outcome.REFUSED_NOT_INDEPENDENT,
                                                       "JAUNUMI"))
    assert minor.send("JĀ")[0] is Outcome.NOTHING_TO_CONFIRM
    phone = Phone(store, catalog)
    phone.send("AUTO")
    assert phone.send("auto 😊")[0] is Outcome.ALREADY_GIVEN


def test_texts_from_other_channels_are_not_read(store: ConsentStore, catalog: Catalog) -> None:
    out = store.apply(req("unknown", None, text="VISS STOP", channel="web"), catalog=catalog)
    assert out.outcome is Outcome.UNKNOWN_COMMAND and out.reply_text is None


def test_an_exact_command_is_recorded_as_understood_exactly(phone: Phone) -> None:
    phone.send("vieta")
    phone.send("VIETA STOP")
    assert phone.last_rows(2) == [("VIETA", "given", "VIETA", "exact"),
                                  ("VIETA", "withdrawn", "VIETA STOP", "exact")]


def test_erasure_blanks_the_confirmed_text(store: ConsentStore, catalog: Catalog) -> None:
    phone = Phone(store, catalog)
    phone.send("jaunumus")
    phone.send("JĀ")
    store.erase(LMT, "test")
    rows = store.history(LMT)
    assert all(r.confirmed_text is None and r.text is None for r in rows)
    assert any(r.confirms_event_id for r in rows)


def test_racing_ja_texts_from_several_workers_give_once(
        database_url: str, store: ConsentStore, catalog: Catalog) -> None:
    """The pending question is the number's latest row before the JĀ, read after its
    consent rows are locked: of several JĀ applied at once by different workers, one gives;
    the rest find nothing waiting, or come too late to change anything."""
    store.apply(req("unknown", None, text="vietu", at=T0), catalog=catalog)
    answers = [req("unknown", None, text="JĀ", at=T0 + timedelta(seconds=5 + i),
                   event_id=f"yes-{i}") for i in range(4)]
    barrier = threading.Barrier(len(answers))
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def worker(answer: ChangeRequest) -> None:
        mine = ConsentStore(database_url, clock=store.clock)
        try:
            barrier.wait()
            outcomes.append(mine.apply(answer, catalog=catalog).outcome)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=worker, args=(a,)) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    # One gives. A JĀ that arrived before the one applied first still answers the question
    # (it is the first text after it, by arrival), but comes too late to change anything.
    assert sorted(outcomes).count(Outcome.GIVEN) == 1
    assert set(outcomes) <= {Outcome.GIVEN, Outcome.NOTHING_TO_CONFIRM, Outcome.SUPERSEDED}
    assert [e.outcome for e in store.history(LMT)].count("given") == 1
