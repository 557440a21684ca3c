"""parse: the command language of docs/commands.md, as tables and as properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_core.model import CONSENTS, Give, Unknown, Withdraw
from consent_core.parse import fold, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # SPEC §4's list
        ("jaunumi", Give("JAUNUMI")),
        (" Jaunumi  stop ", Withdraw("JAUNUMI")),
        ("VIETA STOP!", Withdraw("VIETA")),
        ("Sadarbība", Give("SADARBIBA")),
        # the seed's commands as written
        ("JAUNUMI", Give("JAUNUMI")),
        ("METADATI", Give("METADATI")),
        ("AUTO", Give("AUTO")),
        ("VIETA", Give("VIETA")),
        ("SADARBIBA", Give("SADARBIBA")),
        ("JAUNUMI STOP", Withdraw("JAUNUMI")),
        ("METADATI STOP", Withdraw("METADATI")),
        ("AUTO STOP", Withdraw("AUTO")),
        ("VIETA STOP", Withdraw("VIETA")),
        ("SADARBIBA STOP", Withdraw("SADARBIBA")),
        # case, spaces, punctuation
        ("vIeTa", Give("VIETA")),
        ("\tAUTO\r\n", Give("AUTO")),
        ("AUTO\nSTOP", Withdraw("AUTO")),
        ("\u00a0VIETA\u00a0STOP\u00a0", Withdraw("VIETA")),  # NBSP
        ("VIETA\u3000STOP", Withdraw("VIETA")),  # ideographic space
        ("VIETA\u2003\u2009STOP", Withdraw("VIETA")),  # em space, thin space
        ("VIETA.", Give("VIETA")),
        ("Vieta stop...", Withdraw("VIETA")),
        ("vieta stop?!", Withdraw("VIETA")),
        ("VIETA STOP !", Withdraw("VIETA")),
        ("VIETA…", Give("VIETA")),  # horizontal ellipsis folds to "..."
        ("ＶＩＥＴＡ　ＳＴＯＰ！", Withdraw("VIETA")),  # full-width
        ("\u200bJAUNUMI\ufeff", Give("JAUNUMI")),  # zero-width space, BOM
        # diacritics
        ("SADARBĪBA", Give("SADARBIBA")),
        ("sadarbība stop", Withdraw("SADARBIBA")),
        ("Jaunumī", Give("JAUNUMI")),
        ("VIETĀ", Give("VIETA")),
        ("Sadarbi\u0304ba", Give("SADARBIBA")),  # decomposed ī
        ("VIETA ŠTOP", Withdraw("VIETA")),  # folding applies to STOP too
        # word order and spelling of the withdrawal
        ("STOP VIETA", Withdraw("VIETA")),
        ("stop jaunumi", Withdraw("JAUNUMI")),
        ("VIETASTOP", Withdraw("VIETA")),
        ("vietastop", Withdraw("VIETA")),
        ("STOPVIETA", Withdraw("VIETA")),
        ("VIETA-STOP", Withdraw("VIETA")),
        ("VIETA – STOP", Withdraw("VIETA")),  # en dash
        ("VIETA_STOP", Withdraw("VIETA")),
        ("VIETA ATSAUKT", Withdraw("VIETA")),
        ("atsaukt vieta", Withdraw("VIETA")),
        ("AUTO atcelt", Withdraw("AUTO")),
        ("atsaukt jaunumi", Withdraw("JAUNUMI")),
        ("VIETA—STOP", Withdraw("VIETA")),  # em dash
        ("ＡＵＴＯ", Give("AUTO")),
        (" Vieta. ", Give("VIETA")),
        # refused
        ("STOP", Unknown("STOP")),
        ("stop.", Unknown("stop.")),
        ("ATSAUKT", Unknown("ATSAUKT")),
        ("", Unknown("")),
        ("   ", Unknown("   ")),
        ("...", Unknown("...")),
        ("VIETA JAUNUMI", Unknown("VIETA JAUNUMI")),
        ("VIETA VIETA", Unknown("VIETA VIETA")),
        ("VIETA STOP STOP", Unknown("VIETA STOP STOP")),
        ("STOP VIETA STOP", Unknown("STOP VIETA STOP")),
        ("VIETA STOP JAUNUMI", Unknown("VIETA STOP JAUNUMI")),
        ("VIETA START", Unknown("VIETA START")),
        ("VIETTA", Unknown("VIETTA")),  # a typo is not guessed at
        ("VIET", Unknown("VIET")),
        ("VIETAS", Unknown("VIETAS")),
        ("VIETA,STOP", Unknown("VIETA,STOP")),
        ("VIETA.STOP", Unknown("VIETA.STOP")),
        ("!VIETA", Unknown("!VIETA")),
        ('"VIETA"', Unknown('"VIETA"')),
        ("VIETA :)", Unknown("VIETA :)")),
        ("VIETA NE", Unknown("VIETA NE")),
        ("VIETA JĀ", Unknown("VIETA JĀ")),
        ("JAUNUMS", Unknown("JAUNUMS")),
        ("HELP", Unknown("HELP")),
        ("PALĪDZĪBA", Unknown("PALĪDZĪBA")),
        ("VIETA STOPP", Unknown("VIETA STOPP")),
        ("VIETAATSAUKT", Unknown("VIETAATSAUKT")),
        ("\x00", Unknown("\x00")),
        # a question is never a give; a withdrawal asked as one still withdraws
        ("VIETA?", Unknown("VIETA?")),
        ("vieta ?", Unknown("vieta ?")),
        ("AUTO?!", Unknown("AUTO?!")),
        ("Sadarbība？", Unknown("Sadarbība？")),
        ("VIETA STOP?", Withdraw("VIETA")),
    ],
)
def test_command_language(text: str, expected: Give | Withdraw | Unknown) -> None:
    assert parse(text) == expected


def test_unknown_keeps_the_text_as_received() -> None:
    assert parse("  Sveiki!  ") == Unknown("  Sveiki!  ")


def test_custom_keywords_are_folded_too() -> None:
    assert parse("jaunumi", ["Jaunumi"]) == Give("Jaunumi")
    assert parse("VIETA", ["JAUNUMI"]) == Unknown("VIETA")
    assert parse("VIETA", []) == Unknown("VIETA")
    assert parse("x", ["\u0301"]) == Unknown("x")  # a keyword that folds to nothing


def test_fold() -> None:
    assert fold("Sadarbība") == "SADARBIBA"
    assert fold("ĀČĒĢĪĶĻŅŠŪŽāčēģīķļņšūž") == "ACEGIKLNSUZACEGIKLNSUZ"
    assert fold("ＡＵＴＯ") == "AUTO"
    assert fold("\u00a0") == " "


# --- properties ---------------------------------------------------------------------------

# A Latvian letter (and one other accent) each base letter can be typed with.
_ACCENTED = {
    "A": "ĀāÁ", "C": "Čč", "E": "Ēē", "G": "Ģģ", "I": "ĪīÍ", "K": "Ķķ",
    "L": "Ļļ", "N": "Ņņ", "S": "Šš", "U": "ŪūÜ", "Z": "Žž",
}  # fmt: skip
_SPACES = [" ", "  ", "\t", "\u00a0", "\u3000", "\u2002", "\u2009", "\u202f", "\n", "\r\n"]


@st.composite
def letter_variant(draw: st.DrawFn, letter: str) -> str:
    choices = [letter, letter.lower(), *list(_ACCENTED.get(letter, ""))]
    choices.append(chr(ord(letter) + 0xFEE0))  # full-width form
    choices.append(letter + "\u0304")  # combining macron
    return draw(st.sampled_from(choices))


@st.composite
def word_variant(draw: st.DrawFn, word: str) -> str:
    return "".join(draw(letter_variant(ch)) for ch in word)


@st.composite
def spaces(draw: st.DrawFn, min_size: int = 0) -> str:
    return "".join(draw(st.lists(st.sampled_from(_SPACES), min_size=min_size, max_size=3)))


@st.composite
def command_variant(draw: st.DrawFn) -> tuple[str, Give | Withdraw]:
    keyword = draw(st.sampled_from(CONSENTS))
    withdraw = draw(st.booleans())
    text = draw(spaces()) + draw(word_variant(keyword))
    if withdraw:
        text += draw(spaces(min_size=1)) + draw(word_variant("STOP"))
    # A question mark makes a give a question (never a give); a withdrawal stays one.
    endings = ["", ".", "!", "!!", "...", "！", *(["?", "?!"] if withdraw else [])]
    text += draw(spaces()) + draw(st.sampled_from(endings))
    text += draw(spaces())
    return text, (Withdraw(keyword) if withdraw else Give(keyword))


@settings(max_examples=500)
@given(command_variant())
def test_every_keyword_is_case_space_and_diacritic_insensitive(
    case: tuple[str, Give | Withdraw],
) -> None:
    text, expected = case
    assert parse(text) == expected


@settings(max_examples=1000)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_parse_never_raises_on_any_str(text: str) -> None:
    result = parse(text)
    assert isinstance(result, Give | Withdraw | Unknown)
    if isinstance(result, Unknown):
        assert result.text == text
    else:
        assert result.consent in CONSENTS


@given(st.text(max_size=30), st.sampled_from(CONSENTS))
def test_text_containing_more_than_a_command_is_not_a_command(junk: str, keyword: str) -> None:
    # Whatever extra word is appended, the result never names a different consent.
    result = parse(f"{keyword} {junk}")
    if not isinstance(result, Unknown):
        assert result.consent == keyword
