"""The shipped catalog and every validation error of load_catalog."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from consent_core.catalog import Catalog, CatalogError, load_catalog
from consent_core.encode import encode_sms
from consent_core.model import CONSENTS, MANY_CONSENTS, NO_CONSENT, REPLIED, TWO_LISTS, Outcome

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "commands.toml"
LATVIAN_LETTERS = set("āčēģīķļņšūžĀČĒĢĪĶĻŅŠŪŽ")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_shipped_catalog_loads_with_the_five_consents_in_seed_order(catalog: Catalog) -> None:
    assert catalog.keywords == CONSENTS
    assert catalog.version
    assert catalog.languages == ("lv", "en")
    assert catalog.consents["JAUNUMI"].groups == frozenset({"lmt", "other"})
    for keyword in CONSENTS[1:]:
        assert catalog.consents[keyword].groups == frozenset({"lmt"})
    for definition in catalog.consents.values():
        assert set(definition.description) == {"lv", "en"}
        assert definition.description_version


def test_loading_by_path_gives_the_same_catalog(catalog: Catalog) -> None:
    assert load_catalog(SHIPPED) == catalog
    assert load_catalog(str(SHIPPED)) == catalog


def test_catalog_is_immutable(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.consents["X"] = catalog.consents["AUTO"]  # type: ignore[index]
    with pytest.raises(TypeError):
        catalog.consents["AUTO"].description["lv"] = "x"  # type: ignore[index]


def _lists() -> list[tuple[str, ...]]:
    """Every non-empty list of consents a reply can name, in catalog order."""
    return [tuple(k for i, k in enumerate(CONSENTS) if mask >> i & 1)
            for mask in range(1, 2 ** len(CONSENTS))]


def _every_reply(catalog: Catalog) -> list[tuple[Outcome, str, str]]:
    """Every reply the catalog can produce: outcome × consent (or list) × language."""
    out = []
    for outcome in sorted(REPLIED):
        for lang in catalog.languages:
            if outcome in NO_CONSENT:
                out.append((outcome, lang, catalog.reply(outcome, None, lang)))
            elif outcome in TWO_LISTS:  # every split of the named consents into two lists
                out += [(outcome, lang, catalog.reply(outcome, None, lang, many, other))
                        for many in _lists() for other in _lists() if not set(many) & set(other)]
            elif outcome in MANY_CONSENTS:
                out += [(outcome, lang, catalog.reply(outcome, None, lang, many))
                        for many in _lists()]
            else:
                out += [(outcome, lang, catalog.reply(outcome, k, lang)) for k in CONSENTS]
    return out


@pytest.mark.parametrize("outcome", sorted(REPLIED))
@pytest.mark.parametrize("lang", ["lv", "en"])
def test_every_answered_outcome_has_a_reply(catalog: Catalog, outcome: Outcome, lang: str) -> None:
    many = ("JAUNUMI", "VIETA") if outcome in MANY_CONSENTS else ()
    others = ("AUTO",) if outcome in TWO_LISTS else ()
    consent = None if outcome in NO_CONSENT or many else "VIETA"
    text = catalog.reply(outcome, consent, lang, many, others)
    assert "{" not in text
    if consent or many:
        assert "VIETA" in text
    if lang == "lv" and outcome not in (Outcome.ALL_WITHDRAWN, Outcome.NONE_WITHDRAWN,
                                        Outcome.PARTLY_WITHDRAWN):
        # Diacritics everywhere: only the three long replies are worded without them.
        long_ones = {Outcome.HELP, Outcome.UNKNOWN_COMMAND, Outcome.STOP_INFO}
        assert bool(LATVIAN_LETTERS & set(text)) != (outcome in long_ones), text


def test_every_reply_fits_one_sms(catalog: Catalog) -> None:
    """Every outcome × consent (every list for the replies that list) × language, with
    the longest keyword among them: one SMS, GSM 03.38 when the text allows, else UCS2."""
    longest = max(catalog.keywords, key=len)
    replies = _every_reply(catalog)
    assert any(longest in text for _, _, text in replies)
    assert len(replies) > len(REPLIED) * len(catalog.languages)
    for outcome, lang, text in replies:
        parts = encode_sms(text, ref=0)
        assert len(parts) == 1, (outcome.value, lang, len(text), text)
        assert parts[0].esm_class == 0


def test_help_is_asked_for_not_an_error(catalog: Catalog) -> None:
    for lang in catalog.languages:
        help_text = catalog.reply(Outcome.HELP, None, lang)
        assert not help_text.lower().startswith(("command not", "komanda nav", "nesapratu",
                                                 "not understood"))
        for keyword in CONSENTS:
            assert keyword in help_text
        assert "VIETA STOP" in help_text and "VISS STOP" in help_text
    assert catalog.reply(Outcome.CONFIRM_ASKED, "VIETA").endswith(
        "Lai piekristu, atbildi JĀ; lai atteiktu – NĒ")


def test_reply_texts_say_what_the_spec_requires(catalog: Catalog) -> None:
    assert "tikai LMT klienti" in catalog.reply(Outcome.REFUSED_NOT_LMT_CLIENT, "VIETA")
    assert "only by LMT clients" in catalog.reply(Outcome.REFUSED_NOT_LMT_CLIENT, "VIETA", "en")
    assert "vecāki vai aizbildnis" in catalog.reply(Outcome.REFUSED_NOT_INDEPENDENT, "AUTO")
    assert "parent or guardian" in catalog.reply(Outcome.REFUSED_NOT_INDEPENDENT, "AUTO", "en")
    for lang in catalog.languages:
        help_text = catalog.reply(Outcome.UNKNOWN_COMMAND, None, lang)
        for keyword in CONSENTS:
            assert keyword in help_text
        # how to withdraw any of them, not only the example's
        assert {"lv": "nosaukums un STOP", "en": "the name and STOP"}[lang] in help_text
    assert "STOP" in catalog.reply(Outcome.GIVEN, "VIETA", "lv")
    assert catalog.reply(Outcome.WITHDRAWN, "VIETA").startswith("VIETA STOP:")
    listed = catalog.reply(Outcome.STOP_INFO, None, "lv", ("JAUNUMI", "AUTO"))
    assert "JAUNUMI, AUTO" in listed and "VISS STOP" in listed
    # a bare STOP says that nothing was withdrawn, whether or not anything is in force
    assert "nekas nav atsaukts" in listed
    assert "nekas nav atsaukts" in catalog.reply(Outcome.NONE_IN_FORCE, None, "lv")
    assert "nothing withdrawn" in catalog.reply(Outcome.STOP_INFO, None, "en", ("AUTO",))
    # the Latvian replies tell what the English ones tell: how to give again, why nothing
    assert "Lai dotu: VIETA" in catalog.reply(Outcome.ALREADY_WITHDRAWN, "VIETA")
    assert "laiks ir pagājis" in catalog.reply(Outcome.NOTHING_TO_CONFIRM, None)
    assert catalog.reply(Outcome.PARTLY_WITHDRAWN, None, "lv", ("VIETA",), ("AUTO",)) \
        == "Atsauktās: VIETA. Nebija spēkā: AUTO."
    explained = catalog.reply(Outcome.EXPLAINED, "VIETA")
    assert explained.startswith("VIETA: atrašanās vietas dati") and "Lai dotu: VIETA" in explained


def test_the_reply_table_in_the_docs_is_the_catalog(catalog: Catalog) -> None:
    """docs/commands.md, "The replies": one row per answered outcome, the templates as
    shipped, in the catalog's order."""
    docs = (SHIPPED.parents[1] / "docs" / "commands.md").read_text(encoding="utf-8")
    table = docs.split("<!-- replies:begin -->")[1].split("<!-- replies:end -->")[0]
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in table.strip().splitlines()[2:]]
    assert rows == [[f"`{outcome.value}`", texts["lv"], texts["en"]]
                    for outcome, texts in catalog.replies.items()]
    assert "2026.12.2" in docs and catalog.version == "2026.12.2"


def test_latvian_replies_spell_every_word_one_way(catalog: Catalog) -> None:
    """Diacritics everywhere: no word of a Latvian reply is another reply's word with its
    diacritics lost (the long replies are worded with words that have none)."""
    def words(text: str) -> set[str]:
        return set(re.findall(r"[^\W\d_]+", text.lower()))

    latvian = {w for t in catalog.replies.values() for w in words(t["lv"])}
    latvian |= {w for d in catalog.consents.values() for w in words(d.description["lv"])}
    bare = {w.translate(str.maketrans("āčēģīķļņšūž", "acegiklnsuz")): w for w in latvian
            if LATVIAN_LETTERS & set(w)}
    for outcome, texts in catalog.replies.items():
        misspelt = {w for w in words(texts["lv"]) if w in bare}
        assert not misspelt, (outcome.value, {w: bare[w] for w in misspelt})


def test_inflected_forms_are_loaded(catalog: Catalog) -> None:
    assert "JAUNUMUS" in catalog.consents["JAUNUMI"].forms
    assert "SADARBIBU" in catalog.consents["SADARBIBA"].forms
    assert catalog.consents["AUTO"].forms == ()


def test_reply_refuses_caller_mistakes(catalog: Catalog) -> None:
    for outcome in (Outcome.SUPERSEDED, Outcome.LAPSED, Outcome.RESET):
        with pytest.raises(KeyError):
            catalog.reply(outcome, "JAUNUMI")
    with pytest.raises(KeyError):
        catalog.reply(Outcome.GIVEN, "VIETA", "ru")
    with pytest.raises(ValueError, match="needs a consent"):
        catalog.reply(Outcome.GIVEN, None)
    with pytest.raises(ValueError, match="needs the consents"):
        catalog.reply(Outcome.STOP_INFO, "VIETA")
    with pytest.raises(ValueError, match="not in force"):
        catalog.reply(Outcome.PARTLY_WITHDRAWN, None, "lv", ("VIETA",))


# --- validation errors, each from a small edit of the shipped file --------------------------

BASE = SHIPPED.read_text(encoding="utf-8")


def load_edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Catalog:
    assert old in BASE, old
    path = tmp_path / "commands.toml"
    path.write_text(BASE.replace(old, new, count), encoding="utf-8")
    return load_catalog(path)


def expect_error(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    with pytest.raises(CatalogError) as info:
        load_edited(tmp_path, old, new)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path) in message  # names the file
    assert re.search(pattern, message), message


def test_unknown_group(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'keyword = "VIETA"\ngroups = ["lmt"]',
        'keyword = "VIETA"\ngroups = ["lmt", "gold"]',
        r"consent VIETA: unknown group 'gold' \(allowed: lmt, other\)",
    )


def test_empty_groups(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'keyword = "AUTO"\ngroups = ["lmt"]',
        'keyword = "AUTO"\ngroups = []',
        r"consent AUTO: groups missing or empty",
    )


def test_missing_reply_for_an_answered_outcome(tmp_path: Path) -> None:
    expect_error(tmp_path, "[replies.already_withdrawn]", "[unused_table]", r"unknown key 'unused_table'")
    start = BASE.index("[replies.already_withdrawn]")
    end = BASE.index("[replies.refused_not_lmt_client]")
    expect_error(tmp_path, BASE[start:end], "", r"reply already_withdrawn: missing")


def test_reply_for_a_recorded_only_outcome_is_refused(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "[replies.given]",
        '[replies.lapsed]\nlv = "x"\nen = "x"\n\n[replies.given]',
        r"reply lapsed: this outcome is recorded only",
    )


def test_reply_for_no_outcome_is_refused(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "[replies.given]",
        '[replies.thanks]\nlv = "x"\nen = "x"\n\n[replies.given]',
        r"reply thanks: not an outcome",
    )


def test_missing_language_in_a_reply(tmp_path: Path) -> None:
    old = BASE[BASE.index("[replies.withdrawn]") :].split("\n")
    en_line = next(line for line in old if line.startswith("en = "))
    expect_error(
        tmp_path,
        "[replies.withdrawn]\n" + old[1] + "\n" + en_line + "\n",
        "[replies.withdrawn]\n" + old[1] + "\n",
        r"reply withdrawn: missing language 'en'",
    )


def test_missing_language_in_a_description(tmp_path: Path) -> None:
    line = next(x for x in BASE.splitlines() if x.startswith('description.en = "Location'))
    expect_error(tmp_path, line + "\n", "", r"consent VIETA description: missing language 'en'")


def test_language_not_declared(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        "[replies.given]\n",
        '[replies.given]\nru = "Спасибо"\n',
        r"reply given: language 'ru' not in languages",
    )


def test_languages_must_include_latvian(tmp_path: Path) -> None:
    expect_error(tmp_path, 'languages = ["lv", "en"]', 'languages = ["en"]', r"must include 'lv'")


def test_duplicate_keyword(tmp_path: Path) -> None:
    expect_error(tmp_path, 'keyword = "AUTO"', 'keyword = "VIETA"', r"consent VIETA: duplicate keyword")


def test_keyword_not_a_known_consent(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'keyword = "AUTO"',
        'keyword = "REKLAMA"',
        r"consent REKLAMA: keyword not one of JAUNUMI, METADATI, AUTO, VIETA, SADARBIBA",
    )


def test_keyword_in_lower_case_is_not_a_known_consent(tmp_path: Path) -> None:
    expect_error(tmp_path, 'keyword = "AUTO"', 'keyword = "auto"', r"consent auto: keyword not")


def test_missing_consent(tmp_path: Path) -> None:
    start = BASE.index('[[consents]]\nkeyword = "SADARBIBA"')
    end = BASE.index("# One table per outcome")
    expect_error(tmp_path, BASE[start:end], "", r"consents: missing consent SADARBIBA")


def test_missing_description_version(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'keyword = "METADATI"\ngroups = ["lmt"]\ndescription_version = "2023-11-29"',
        'keyword = "METADATI"\ngroups = ["lmt"]',
        r"consent METADATI: description_version missing",
    )


def test_unknown_key_in_a_consent(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'keyword = "AUTO"\n',
        'keyword = "AUTO"\ngrups = ["lmt"]\n',
        r"consent AUTO: unknown key 'grups'",
    )


def test_unknown_placeholder(tmp_path: Path) -> None:
    expect_error(
        tmp_path,
        'Nekas nav mainīts."',
        'Nekas nav mainīts, {name}."',
        r"reply refused_not_lmt_client lv: unknown placeholder \{name\}",
    )


def test_help_text_cannot_name_a_consent(tmp_path: Path) -> None:
    expect_error(tmp_path, "Nesapratu.", "Nesapratu {consent}.", r"unknown_command lv: .*no consent")


def test_only_the_listing_replies_take_a_list(tmp_path: Path) -> None:
    expect_error(tmp_path, "Atcelts:", "Atcelts {consents}:", r"confirm_declined lv: .*only for")
    expect_error(tmp_path, "Atcelts:", "Atcelts {others}:", r"confirm_declined lv: .*only for")
    expect_error(tmp_path, "Atcelts:", "Atcelts {summary}:", r"confirm_declined lv: .*only for")


def test_every_consent_has_a_summary(tmp_path: Path) -> None:
    expect_error(tmp_path, 'summary.en = "location data for offers"\n', "",
                 r"consent VIETA summary: missing language 'en'")


def test_a_form_must_be_plain_and_belong_to_one_consent(tmp_path: Path) -> None:
    expect_error(tmp_path, '"VIETU"', '"vietu"', r"consent VIETA: form 'vietu' must be upper")
    expect_error(tmp_path, '"VIETU"', '"JAUNUMU"', r"consent VIETA: form 'JAUNUMU' also belongs")
    expect_error(tmp_path, '"VIETU"', '"AUTO"', r"form 'AUTO' is a keyword")


def test_missing_version(tmp_path: Path) -> None:
    expect_error(tmp_path, 'version = "', 'old_version = "', r"unknown key 'old_version'")
    current = f'version = "{load_catalog().version}"'
    expect_error(tmp_path, current, 'version = ""', r"version: missing")


def test_bad_toml(tmp_path: Path) -> None:
    expect_error(tmp_path, 'keyword = "AUTO"', 'keyword = "AUTO', r"bad TOML")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "commands.toml"
    path.write_bytes(BASE.encode("utf-8").replace("ā".encode(), b"\xe2", 1))
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_catalog(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.toml")


def test_shipped_file_is_valid_toml_with_a_version_per_consent() -> None:
    data = tomllib.loads(BASE)
    assert all("description_version" in c for c in data["consents"])
