"""The consent catalog (`config/commands.toml`) as a frozen, validated value.

What each consent covers, who may give it, and the reply for every answered outcome, with
the versions a consent record must cite (GDPR Art. 7(1): show what the person was told).
Reading the file is the only I/O; everything after `load_catalog` is pure.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from consent_core.model import (
    CLIENT_GROUPS,
    CONSENTS,
    MANY_CONSENTS,
    NO_CONSENT,
    REPLIED,
    TWO_LISTS,
    ConsentCoreError,
    Outcome,
)

DEFAULT_LANG: Final[str] = "lv"
_PLACEHOLDERS: Final[frozenset[str]] = frozenset({"consent", "consents", "others", "summary"})
_TOP_KEYS: Final[frozenset[str]] = frozenset({"version", "languages", "consents", "replies"})
_CONSENT_KEYS: Final[frozenset[str]] = frozenset(
    {"keyword", "groups", "description", "description_version", "forms", "summary"})


class CatalogError(ConsentCoreError):
    """The catalog file is unusable; the message is one line naming the file and entry."""


@dataclass(frozen=True, slots=True)
class ConsentDef:
    """One consent: its keyword, the client groups who may give it, what it covers."""

    keyword: str
    groups: frozenset[str]
    description: Mapping[str, str]  # language → text
    description_version: str
    # Latvian inflected forms understood as near misses (upper case, no diacritics).
    forms: tuple[str, ...] = ()
    # The description in a few words, for the answer to a question ("VIETA?") in one SMS.
    summary: Mapping[str, str] = dataclass_field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Catalog:
    """The consents (in the seed's order) and the reply templates per outcome per language."""

    version: str
    languages: tuple[str, ...]
    consents: Mapping[str, ConsentDef]
    replies: Mapping[Outcome, Mapping[str, str]]

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(self.consents)

    def reply(self, outcome: Outcome, consent: str | None, lang: str = DEFAULT_LANG,
              consents: tuple[str, ...] = (), others: tuple[str, ...] = ()) -> str:
        """The reply text for ``outcome`` about ``consent`` in ``lang``; the replies that list
        several consents (stop_info, all_withdrawn …) take them as ``consents``, and
        ``consent`` defaults to the first; partly_withdrawn lists the consents not in force
        as ``others``. ``{summary}`` is the consent's summary in ``lang``.

        Raises ``KeyError`` for an outcome that is not answered (superseded, lapsed, reset)
        or a language the catalog lacks, and ``ValueError`` when the template names the
        consent but none is given: all are caller bugs, not subscriber input.
        """
        if consents and consent is None:
            consent = consents[0]
        templates = self.replies.get(Outcome(outcome))
        if templates is None:
            raise KeyError(f"outcome {outcome!s} has no reply")
        template = templates.get(lang)
        if template is None:
            raise KeyError(f"no reply in language {lang!r} (catalog has {self.languages})")
        if consent is None:
            if "consent" in _fields(template):
                raise ValueError(f"reply for {outcome!s} needs a consent")
            return template
        if "consents" in _fields(template) and not consents:
            raise ValueError(f"reply for {outcome!s} needs the consents it lists")
        if "others" in _fields(template) and not others:
            raise ValueError(f"reply for {outcome!s} needs the consents not in force")
        entry = self.consents.get(consent)
        summary = "" if entry is None else entry.summary.get(lang, "")
        return template.format(consent=consent, consents=", ".join(consents),
                               others=", ".join(others), summary=summary)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate a catalog; None means the shipped `config/commands.toml`."""
    if path is None:
        resource = files("config").joinpath("commands.toml")
        name = "commands.toml"
        try:
            raw = resource.read_bytes()
        except OSError as exc:
            raise CatalogError(f"{name}: cannot read the shipped catalog: {exc}") from None
    else:
        name = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise CatalogError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{name}: not UTF-8: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{name}: bad TOML: {exc}") from None
    return parse_catalog(data, name=name)


def parse_catalog(data: Mapping[str, Any], *, name: str = "catalog") -> Catalog:
    """Validate an already-parsed catalog document (see `load_catalog`)."""

    def fail(where: str, problem: str) -> CatalogError:
        return CatalogError(f"{name}: {where}: {problem}")

    extra = set(data) - _TOP_KEYS
    if extra:
        raise fail("top level", f"unknown key {sorted(extra)[0]!r}")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise fail("version", "missing or not a non-empty string")
    languages = data.get("languages")
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(lang, str) and lang for lang in languages)
    ):
        raise fail("languages", "missing or not a list of language codes")
    if DEFAULT_LANG not in languages:
        raise fail("languages", f"must include {DEFAULT_LANG!r}")
    if len(set(languages)) != len(languages):
        raise fail("languages", "listed twice")

    def texts(where: str, value: Any) -> Mapping[str, str]:
        if not isinstance(value, dict):
            raise fail(where, "must be a table of language = text")
        for lang in languages:
            text = value.get(lang)
            if text is None:
                raise fail(where, f"missing language {lang!r}")
            if not isinstance(text, str) or not text.strip():
                raise fail(where, f"language {lang!r} is not a non-empty string")
        unknown = set(value) - set(languages)
        if unknown:
            raise fail(where, f"language {sorted(unknown)[0]!r} not in languages")
        return MappingProxyType({lang: value[lang] for lang in languages})

    entries = data.get("consents")
    if not isinstance(entries, list) or not entries:
        raise fail("consents", "missing or not an array of tables ([[consents]])")
    consents: dict[str, ConsentDef] = {}
    for index, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise fail(f"consents entry {index}", "not a table")
        keyword = entry.get("keyword")
        if not isinstance(keyword, str):
            raise fail(f"consents entry {index}", "missing keyword")
        where = f"consent {keyword}"
        if keyword not in CONSENTS:
            raise fail(where, f"keyword not one of {', '.join(CONSENTS)}")
        if keyword in consents:
            raise fail(where, "duplicate keyword")
        extra = set(entry) - _CONSENT_KEYS
        if extra:
            raise fail(where, f"unknown key {sorted(extra)[0]!r}")
        groups = entry.get("groups")
        if not isinstance(groups, list) or not groups:
            raise fail(where, "groups missing or empty")
        for group in groups:
            if group not in CLIENT_GROUPS:
                raise fail(where, f"unknown group {group!r} (allowed: {', '.join(sorted(CLIENT_GROUPS))})")
        description_version = entry.get("description_version")
        if not isinstance(description_version, str) or not description_version.strip():
            raise fail(where, "description_version missing or empty")
        forms = entry.get("forms", [])
        if not isinstance(forms, list) or not all(isinstance(f, str) for f in forms):
            raise fail(where, "forms must be a list of words")
        for form in forms:
            if not form.isascii() or not form.isalpha() or not form.isupper():
                raise fail(where, f"form {form!r} must be upper-case letters without diacritics")
            if form in CONSENTS:
                raise fail(where, f"form {form!r} is a keyword")
            owner = next((k for k, d in consents.items() if form in d.forms), None)
            if owner is not None or form == keyword:
                raise fail(where, f"form {form!r} also belongs to {owner or keyword}")
        consents[keyword] = ConsentDef(
            keyword=keyword,
            groups=frozenset(groups),
            description=texts(f"{where} description", entry.get("description")),
            description_version=description_version,
            forms=tuple(dict.fromkeys(forms)),
            summary=texts(f"{where} summary", entry.get("summary")),
        )
    missing = [k for k in CONSENTS if k not in consents]
    if missing:
        raise fail("consents", f"missing consent {missing[0]}")

    reply_tables = data.get("replies")
    if not isinstance(reply_tables, dict):
        raise fail("replies", "missing or not a table")
    replies: dict[Outcome, Mapping[str, str]] = {}
    for key, value in reply_tables.items():
        try:
            outcome = Outcome(key)
        except ValueError:
            raise fail(f"reply {key}", "not an outcome") from None
        if outcome not in REPLIED:
            raise fail(f"reply {key}", "this outcome is recorded only, never answered")
        templates = texts(f"reply {key}", value)
        for lang, template in templates.items():
            try:
                fields = _fields(template)
            except ValueError as exc:
                raise fail(f"reply {key} {lang}", f"bad template: {exc}") from None
            unknown = fields - _PLACEHOLDERS
            if unknown:
                raise fail(f"reply {key} {lang}", f"unknown placeholder {{{sorted(unknown)[0]}}}")
            if outcome in NO_CONSENT and fields:
                raise fail(f"reply {key} {lang}", "this reply has no consent to name")
            if "consents" in fields and outcome not in MANY_CONSENTS:
                raise fail(f"reply {key} {lang}", "{consents} is only for the replies that list")
            if "others" in fields and outcome not in TWO_LISTS:
                raise fail(f"reply {key} {lang}", "{others} is only for partly_withdrawn")
            if "summary" in fields and outcome is not Outcome.EXPLAINED:
                raise fail(f"reply {key} {lang}", "{summary} is only for explained")
        replies[outcome] = templates
    for outcome in Outcome:
        if outcome in REPLIED and outcome not in replies:
            raise fail(f"reply {outcome.value}", "missing")

    ordered = {k: consents[k] for k in CONSENTS}
    return Catalog(
        version=version,
        languages=tuple(languages),
        consents=MappingProxyType(ordered),
        replies=MappingProxyType({o: replies[o] for o in Outcome if o in replies}),
    )


def _fields(template: str) -> frozenset[str]:
    """The placeholder names a str.format template uses; ``ValueError`` if malformed."""
    names = set()
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} must be plain")
        names.add(field)
    return frozenset(names)
