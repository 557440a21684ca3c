"""The near-miss reader: what a subscriber's text is understood as, and the rules it keeps."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from consent_core.catalog import load_catalog
from consent_core.model import CONSENTS, Give, Withdraw
from consent_core.parse import parse
from consent_core.understand import (
    FILLER_WORDS,
    Intent,
    Matcher,
    Reading,
    Rule,
    edits,
)
from tests.core.test_parse import command_variant

MATCHER = Matcher.for_catalog(load_catalog())
read = MATCHER.read


@pytest.mark.parametrize(("text", "intent", "consent", "rule"), [
    # exact commands, as parse reads them
    ("JAUNUMI", Intent.GIVE, "JAUNUMI", "exact"),
    ("vieta stop.", Intent.WITHDRAW, "VIETA", "exact"),
    # help, asked for
    ("HELP", Intent.HELP, None, "exact"),
    ("info", Intent.HELP, None, "exact"),
    ("PALĪGS", Intent.HELP, None, "exact"),
    ("paligs?", Intent.HELP, None, "exact"),
    ("?", Intent.HELP, None, "exact"),
    (" ?? ", Intent.HELP, None, "exact"),
    # STOP alone, and everything
    ("STOP", Intent.STOP_INFO, None, "exact"),
    ("stop!", Intent.STOP_INFO, None, "exact"),
    ("VISS STOP", Intent.STOP_ALL, None, "exact"),
    ("STOP VISS", Intent.STOP_ALL, None, "exact"),
    ("visas stop", Intent.STOP_ALL, None, "exact"),
    # the answers
    ("JĀ", Intent.YES, None, "exact"),
    ("ja", Intent.YES, None, "exact"),
    ("Jā", Intent.YES, None, "exact"),
    ("NĒ", Intent.NO, None, "exact"),
    ("ne", Intent.NO, None, "exact"),
    # Latvian inflected forms
    ("JAUNUMUS", Intent.GIVE, "JAUNUMI", "form"),
    ("jaunumu", Intent.GIVE, "JAUNUMI", "form"),
    ("VIETU", Intent.GIVE, "VIETA", "form"),
    ("vietas", Intent.GIVE, "VIETA", "form"),
    ("METADATUS", Intent.GIVE, "METADATI", "form"),
    ("Sadarbību", Intent.GIVE, "SADARBIBA", "form"),
    ("vietu stop", Intent.WITHDRAW, "VIETA", "form"),
    ("STOP jaunumus", Intent.WITHDRAW, "JAUNUMI", "form"),
    ("jaunumusSTOP", Intent.WITHDRAW, "JAUNUMI", "form"),
    # one edit (two for eight letters or more)
    ("JANUMI", Intent.GIVE, "JAUNUMI", "typo"),  # deletion
    ("JAUNUMMI", Intent.GIVE, "JAUNUMI", "typo"),  # insertion
    ("VIETE", Intent.GIVE, "VIETA", "typo"),  # substitution
    ("AUOT", Intent.GIVE, "AUTO", "typo"),  # transposition
    ("METDATII", Intent.GIVE, "METADATI", "typo"),  # two edits, 8 letters
    ("SDARBIBBA", Intent.GIVE, "SADARBIBA", "typo"),
    ("VIETA STPO", Intent.WITHDRAW, "VIETA", "typo"),
    ("VITEA STOP", Intent.WITHDRAW, "VIETA", "typo"),
    # filler and punctuation
    ("Lūdzu VIETA STOP, paldies", Intent.WITHDRAW, "VIETA", "punctuation+filler"),
    ("labdien, JAUNUMI", Intent.GIVE, "JAUNUMI", "punctuation+filler"),
    ("please AUTO thanks", Intent.GIVE, "AUTO", "filler"),
    ("VIETA 😊", Intent.GIVE, "VIETA", "punctuation"),
    ("VIETA STOP 👍👍", Intent.WITHDRAW, "VIETA", "punctuation"),
    ("VIETA,STOP", Intent.WITHDRAW, "VIETA", "punctuation"),
    ("\"VIETA\"", Intent.GIVE, "VIETA", "punctuation"),
    ("vietu stop :)", Intent.WITHDRAW, "VIETA", "punctuation+form"),
    # any sign of "no" beside a consent withdraws it, never a give (the corpus has more)
    ("NEGRIBU JAUNUMUS", Intent.WITHDRAW, "JAUNUMI", "form+words"),
    ("NĒ JAUNUMI", Intent.WITHDRAW, "JAUNUMI", "exact"),
    ("SADARBIBASTP", Intent.WITHDRAW, "SADARBIBA", "typo"),
    ("METADATUSTP", Intent.WITHDRAW, "METADATI", "form"),
    ("VIETA AUTO STOP", Intent.WITHDRAW, "VIETA", "several"),
    ("VIETA?", Intent.EXPLAIN, "VIETA", "question"),
])
def test_what_is_understood(text: str, intent: Intent, consent: str | None, rule: str) -> None:
    reading = read(text)
    assert (reading.intent, reading.consent, reading.rule) == (intent, consent, rule)
    assert reading.near_miss == (rule != "exact")


@pytest.mark.parametrize(("text", "why"), [
    ("JAUNUMI VIETA", "two_consents"),
    ("jaunumus un vietu", "two_consents"),
    ("paldies", "no_command"),
    ("😊", "no_command"),
    ("gribu pici", "nothing_close"),
    ("XYZZY", "nothing_close"),
    ("VIETA 2", "nothing_close"),
    ("VI\ufffdETA\ufffd", "nothing_close"),  # a broken text is not mended into a word
    ("lūdzu " * 12 + "VIETA", "too_long"),
])
def test_what_gets_help(text: str, why: str) -> None:
    reading = read(text)
    assert (reading.intent, reading.why) == (Intent.UNKNOWN, why)


def test_two_keywords_equally_close_are_ambiguous() -> None:
    matcher = Matcher(("VIETA", "VIETO"))
    assert matcher.read("VIETI").intent is Intent.UNKNOWN
    assert matcher.read("VIETI").why == "ambiguous"
    assert matcher.read("VIETA").consent == "VIETA"  # exact still wins


def test_only_long_keywords_take_two_edits() -> None:
    assert read("VEITE").intent is Intent.UNKNOWN  # VIETA with two edits: 5 letters
    assert read("MTADATII").consent == "METADATI"
    assert read("MTADTII").intent is Intent.UNKNOWN  # three edits


def test_understood_is_the_canonical_command() -> None:
    assert read("vietu stop").understood == "VIETA STOP"
    assert read("jaunumus").understood == "JAUNUMI"
    assert read("stop viss").understood == "VISS STOP"


def test_edits_is_optimal_string_alignment() -> None:
    assert edits("VIETA", "VIETA") == 0
    assert edits("VIETA", "VEITA") == 1
    assert edits("VIETA", "VIET") == 1
    assert edits("VIETA", "XVIETA") == 1
    assert edits("AUTO", "STOP", limit=5) == 3
    assert edits("ABCDEFGH", "A", limit=2) == 3


# --- properties --------------------------------------------------------------------------

@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_no_input_raises(text: str) -> None:
    reading = read(text)
    assert isinstance(reading, Reading)
    if reading.intent in (Intent.GIVE, Intent.WITHDRAW):
        assert reading.consent in CONSENTS
    else:
        assert reading.consent is None


@settings(max_examples=500, deadline=None)
@given(command_variant())
def test_an_exact_command_always_wins(case: tuple[str, Give | Withdraw]) -> None:
    text, expected = case
    reading = read(text)
    intent = Intent.GIVE if isinstance(expected, Give) else Intent.WITHDRAW
    assert (reading.intent, reading.consent, reading.rules) == (
        intent, expected.consent, (Rule.EXACT,))


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_whatever_parse_accepts_is_read_the_same(text: str) -> None:
    exact = parse(text)
    if isinstance(exact, Give | Withdraw):
        reading = read(text)
        assert reading.consent == exact.consent and reading.rules == (Rule.EXACT,)


def _one_edit(word: str, data: st.DataObject) -> str:
    kind = data.draw(st.sampled_from(["insert", "delete", "substitute", "transpose", "none"]))
    i = data.draw(st.integers(0, len(word) - 1))
    letter = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPRSTUVZ"))
    if kind == "insert":
        return word[:i] + letter + word[i:]
    if kind == "delete" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "substitute":
        return word[:i] + letter + word[i + 1:]
    if kind == "transpose" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_no_rule_turns_a_withdrawal_into_a_give(data: st.DataObject) -> None:
    """A withdrawal, disturbed by any of the near-miss kinds (a typo in the keyword or in
    STOP, an inflected form, filler, punctuation, a missing space), is never a give."""
    catalog = load_catalog()
    keyword = data.draw(st.sampled_from(CONSENTS))
    word = data.draw(st.sampled_from([keyword, *catalog.consents[keyword].forms]))
    word = _one_edit(word, data)
    stop = _one_edit(data.draw(st.sampled_from(["STOP", "ATSAUKT", "ATCELT"])), data)
    glue = data.draw(st.sampled_from([" ", "", ", ", " - "]))
    parts = [stop, word] if data.draw(st.booleans()) else [word, stop]
    text = glue.join(parts)
    filler = data.draw(st.lists(st.sampled_from([*sorted(FILLER_WORDS), "😊", "!", ":)"]),
                                max_size=2))
    if filler:
        text = data.draw(st.sampled_from([f"{filler[0]} {text}", f"{text} {filler[-1]}"]))
    reading = read(text)
    assert reading.intent is not Intent.GIVE, (text, reading)
    assert reading.intent is not Intent.YES


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CONSENTS), st.sampled_from(sorted(FILLER_WORDS)))
def test_filler_around_a_give_is_a_near_miss_of_that_give(keyword: str, filler: str) -> None:
    for text in (f"{filler} {keyword}", f"{keyword} {filler}"):
        reading = read(text)
        assert (reading.intent, reading.consent) == (Intent.GIVE, keyword), text
        assert reading.near_miss


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_a_single_typo_of_a_keyword_is_understood_or_refused_never_another(
        data: st.DataObject) -> None:
    keyword = data.draw(st.sampled_from(CONSENTS))
    word = _one_edit(keyword, data)
    assume(word != keyword)
    reading = read(word)
    # A typo that puts a stretch one edit from STOP into the word ("AUSTO") is read on the
    # safe side, as a withdrawal of that keyword; never anything about another consent.
    assert reading.intent in (Intent.GIVE, Intent.UNKNOWN, Intent.WITHDRAW), (word, reading)
    if reading.intent is not Intent.UNKNOWN:
        assert reading.consents == (keyword,)
