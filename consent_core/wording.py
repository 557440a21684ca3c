"""What a recorded text was read as and what came of it, in words (Latvian and English).

For people who answer subscribers — `consentctl history`, the customer-centre console — so
that nobody has to know the outcome codes or the reader's rule names. Pure: a ledger
entry's plain values in, one sentence out; `describe` never raises for values the ledger
holds (an unknown code is shown as it is).
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final[tuple[str, ...]] = ("lv", "en")

# What happened to the consent (or the text), per ledger outcome; {consent} is filled in.
_OUTCOMES: Final[dict[str, dict[str, str]]] = {
    "given": {"lv": "piekrišana {consent} dota",
              "en": "consent {consent} given"},
    "already_given": {"lv": "{consent} jau bija spēkā; nekas nav mainīts",
                      "en": "{consent} was already in force; nothing changed"},
    "withdrawn": {"lv": "piekrišana {consent} atsaukta",
                  "en": "consent {consent} withdrawn"},
    "already_withdrawn": {"lv": "{consent} nebija spēkā; nekas nav mainīts",
                          "en": "{consent} was not in force; nothing changed"},
    "refused_not_lmt_client": {"lv": "{consent} atteikta: nav LMT klients",
                               "en": "{consent} refused: not an LMT client"},
    "refused_not_independent": {"lv": "{consent} atteikta: lietotājs nevar rīkoties patstāvīgi",
                                "en": "{consent} refused: the user cannot act independently"},
    "unknown_command": {"lv": "nav saprasts; nosūtīta īsā palīdzība",
                        "en": "not understood; the short help was sent"},
    "help": {"lv": "lūgta palīdzība; nosūtīta", "en": "help asked for and sent"},
    "stop_info": {"lv": "nekas nav atsaukts; nosūtīts, kas ir spēkā",
                  "en": "nothing withdrawn; told what is in force"},
    "none_in_force": {"lv": "nekas nav atsaukts: neviena piekrišana nebija spēkā",
                      "en": "nothing withdrawn: no consent was in force"},
    "confirm_asked": {"lv": "{consent} nav dota: jautāts, vai domāts {consent} (gaida JĀ)",
                      "en": "{consent} not given: asked whether {consent} was meant (waits for JĀ)"},
    "confirm_declined": {"lv": "atbilde NĒ: {consent} nav dota",
                         "en": "answered NĒ: {consent} not given"},
    "nothing_to_confirm": {"lv": "JĀ/NĒ bez jautājuma; nekas nav mainīts",
                           "en": "JĀ/NĒ with no question waiting; nothing changed"},
    "explained": {"lv": "jautājums par {consent}: nosūtīts skaidrojums; nekas nav mainīts",
                  "en": "a question about {consent}: explained; nothing changed"},
    # replies to a text that withdrew several consents (its rows are withdrawn / not)
    "all_withdrawn": {"lv": "atsauktas visas nosauktās piekrišanas",
                      "en": "every consent named withdrawn"},
    "partly_withdrawn": {"lv": "daļa nosaukto piekrišanu atsaukta, pārējās nebija spēkā",
                         "en": "some consents named withdrawn, the others were not in force"},
    "none_withdrawn": {"lv": "neviena nosauktā piekrišana nebija spēkā",
                       "en": "none of the consents named was in force"},
    "superseded": {"lv": "{consent} nav piemērota: vēlāka izmaiņa jau bija spēkā",
                   "en": "{consent} not applied: a later change was already in force"},
    "lapsed": {"lv": "{consent} beigusies: ilgi nav bijis saziņas",
               "en": "{consent} lapsed: no communication for too long"},
    "left": {"lv": "{consent} beigusies: numurs vairs nav LMT klientu sarakstā",
             "en": "{consent} ended: the number left LMT's directory"},
    "reset": {"lv": "{consent} atsaukta: numurs nodots citam lietotājam",
              "en": "{consent} withdrawn: the number was handed to a new user"},
}
# How the reader got there (consent_core.understand.Rule, the ledger's match_rule).
_RULES: Final[dict[str, dict[str, str]]] = {
    "exact": {"lv": "precīza komanda", "en": "the exact command"},
    "punctuation": {"lv": "bez pieturzīmēm un emocijzīmēm", "en": "punctuation and emoji aside"},
    "filler": {"lv": "bez pieklājības vārdiem", "en": "polite words aside"},
    "form": {"lv": "locīts vārds", "en": "an inflected form"},
    "typo": {"lv": "drukas kļūda", "en": "a typo"},
    "script": {"lv": "citas rakstības burti", "en": "look-alike letters of another script"},
    "words": {"lv": "noliegums vai darbības vārds", "en": "a negation or a verb"},
    "several": {"lv": "vairākas piekrišanas", "en": "several consents"},
    "question": {"lv": "jautājums", "en": "a question"},
    "nothing_close": {"lv": "nekas līdzīgs komandai", "en": "nothing close to a command"},
    "two_consents": {"lv": "divas piekrišanas došanai", "en": "two consents to give"},
    "ambiguous": {"lv": "līdzīgs vairākām komandām", "en": "close to several commands"},
    "no_command": {"lv": "tikai pieklājības vārdi", "en": "polite words only"},
    "too_long": {"lv": "pārāk garš", "en": "too long"},
    "withdrawal_unclear": {"lv": "neskaidrs atsaukums", "en": "an unclear withdrawal"},
}
_READ_AS: Final[dict[str, str]] = {"lv": "saprasts kā", "en": "read as"}


def outcome_words(outcome: str, consent: str | None, lang: str = "en") -> str:
    """What happened, e.g. ``consent VIETA withdrawn`` / ``piekrišana VIETA atsaukta``."""
    table = _OUTCOMES.get(outcome)
    if table is None:
        return outcome
    return table.get(lang, table["en"]).format(consent=consent or "-")


def rule_words(match_rule: str | None, lang: str = "en") -> str:
    """How a text was read, e.g. ``an inflected form, a typo``; '' for none recorded."""
    if not match_rule:
        return ""
    parts = [_RULES.get(r, {}).get(lang) or r for r in match_rule.split("+")]
    return ", ".join(dict.fromkeys(parts))


def describe(outcome: str, consent: str | None, understood: str | None,
             match_rule: str | None, lang: str = "en") -> str:
    """One sentence for a ledger entry: what happened, and for a text what it was read as
    and how (``consent VIETA withdrawn; read as "VIETA STOP" (an inflected form)``)."""
    said = outcome_words(outcome, consent, lang)
    if understood:
        return f"{said}; {reading_words(understood, match_rule, lang)}"
    how = rule_words(match_rule, lang)
    if how and match_rule != "exact":
        said += f" ({how})"
    return said


def reading_words(understood: str | None, match_rule: str | None, lang: str = "en") -> str:
    """What a text that was not the exact command was read as, and how
    (``read as "VIETA STOP" (a negation or a verb)``); '' when there is nothing to say."""
    if not understood:
        return ""
    said = f"{_READ_AS.get(lang, _READ_AS['en'])} \u201c{understood}\u201d"
    how = rule_words(match_rule, lang)
    return f"{said} ({how})" if how else said
