"""consent_core.wording: what a ledger entry means, in Latvian and English words."""

from __future__ import annotations

import pytest

from consent_core.model import Outcome
from consent_core.understand import Rule
from consent_core.wording import LANGUAGES, describe, outcome_words, rule_words


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_outcome_has_words_in_every_language(outcome: Outcome, lang: str) -> None:
    said = outcome_words(outcome.value, "VIETA", lang)
    assert said != outcome.value and "_" not in said
    if lang == "lv":
        assert said != outcome_words(outcome.value, "VIETA", "en")


@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_has_words(rule: Rule) -> None:
    for lang in LANGUAGES:
        assert rule_words(rule.value, lang) not in ("", rule.value)


def test_a_text_is_described_with_what_it_was_read_as() -> None:
    assert describe("withdrawn", "VIETA", "VIETA STOP", "form+words", "en") == (
        "consent VIETA withdrawn; read as \u201cVIETA STOP\u201d (an inflected form, "
        "a negation or a verb)")
    assert describe("withdrawn", "VIETA", "VIETA STOP", "form", "lv") == (
        "piekrišana VIETA atsaukta; saprasts kā \u201cVIETA STOP\u201d (locīts vārds)")
    assert describe("explained", "AUTO", "AUTO?", "question", "en").startswith(
        "a question about AUTO: explained")
    # an unknown text says why; a change from another channel says only what happened
    assert describe("unknown_command", None, None, "two_consents", "en") == (
        "not understood; the short help was sent (two consents to give)")
    assert describe("given", "AUTO", None, None, "lv") == "piekrišana AUTO dota"
    assert describe("some_new_code", None, None, None) == "some_new_code"
