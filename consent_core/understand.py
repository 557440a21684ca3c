"""What a subscriber meant: every text read as a `Reading` — a command, exact or a near miss.

`parse` (the exact command language) always wins. Only a text it refuses is read further,
and only when the meaning is unambiguous (docs/commands.md, "Near misses"):

- ``form``: a Latvian inflected form of a keyword (``JAUNUMUS``, ``VIETU``; the catalog's
  ``forms``);
- ``typo``: one edit (insertion, deletion, substitution, adjacent transposition) from a
  keyword, two for keywords of eight letters or more, when exactly one word is that close;
- ``filler``: polite words around a command (``lūdzu``, ``paldies``, ``please`` …);
- ``punctuation``: emoji, symbols and punctuation around the words.

Besides the consent commands it reads HELP (``HELP``, ``INFO``, ``PALĪGS``, ``?``), a bare
``STOP``, ``VISS STOP`` (withdraw everything) and the answers ``JĀ``/``NĒ``. What the store
does with each, and that a near-miss *give* is only applied after ``JĀ``, is the store's
business; this module only reads. Pure and total: never raises, whatever the ``str``.

A reading is never a give when the text carries anything that looks like a withdrawal word
(withdrawing must not turn into giving, GDPR Art. 7(3)).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from consent_core.catalog import Catalog
from consent_core.model import CONSENTS, Give, Withdraw
from consent_core.parse import STOP, WITHDRAW_WORDS, fold, parse, tokens


class Intent(StrEnum):
    GIVE = "give"
    WITHDRAW = "withdraw"
    HELP = "help"
    STOP_INFO = "stop_info"  # a bare STOP: what is in force, nothing changes
    STOP_ALL = "stop_all"  # VISS STOP: withdraw everything in force
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class Rule(StrEnum):
    EXACT = "exact"
    FORM = "form"
    TYPO = "typo"
    FILLER = "filler"
    PUNCTUATION = "punctuation"


@dataclass(frozen=True, slots=True)
class Reading:
    """What a text was understood as. ``rules``: how (``exact`` alone for a text `parse`
    accepts). ``consent`` for give/withdraw. ``why`` says why an ``unknown`` is unknown."""

    intent: Intent
    consent: str | None = None
    rules: tuple[Rule, ...] = ()
    why: str | None = None

    @property
    def near_miss(self) -> bool:
        return bool(self.rules) and self.rules != (Rule.EXACT,)

    @property
    def rule(self) -> str:
        """The rules as one ledger value, e.g. ``filler+typo``."""
        return "+".join(r.value for r in self.rules) if self.rules else (self.why or "none")

    @property
    def understood(self) -> str:
        """The command as understood, in canonical form (``VIETA STOP``, ``JAUNUMI``)."""
        return {
            Intent.GIVE: self.consent or "",
            Intent.WITHDRAW: f"{self.consent} {STOP}",
            Intent.HELP: "PALĪGS",
            Intent.STOP_INFO: STOP,
            Intent.STOP_ALL: f"VISS {STOP}",
            Intent.YES: "JĀ",
            Intent.NO: "NĒ",
            Intent.UNKNOWN: "",
        }[self.intent]


HELP_WORDS: Final[frozenset[str]] = frozenset({"HELP", "INFO", "PALIGS", "PALIDZIBA"})
YES_WORDS: Final[frozenset[str]] = frozenset({"JA", "YES"})
NO_WORDS: Final[frozenset[str]] = frozenset({"NE", "NO"})
# "all" in VISS STOP: viss, visas, visu, visus (folded).
ALL_WORDS: Final[frozenset[str]] = frozenset({"VISS", "VISAS", "VISU", "VISUS", "VISI", "ALL"})
# Polite words and greetings dropped around a command (folded: no diacritics).
FILLER_WORDS: Final[frozenset[str]] = frozenset({
    "LUDZU", "PALDIES", "LABDIEN", "LABRIT", "LABVAKAR", "SVEIKI", "SVEIKS", "CAU", "HEJ",
    "PLEASE", "PLS", "PLZ", "THANKS", "THANK", "YOU", "THX", "HI", "HELLO",
})
# A word on its own: a bare withdrawal word asks what is in force.
_ALONE: Final[dict[str, Intent]] = {"withdraw": Intent.STOP_INFO, "help": Intent.HELP,
                                    "yes": Intent.YES, "no": Intent.NO}
# A text of more words than this is a message, not a command (and is not searched).
MAX_WORDS: Final[int] = 12
# A keyword this long or longer is still recognised with two edits; shorter ones with one.
TWO_EDITS_FROM: Final[int] = 8


def edits(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment distance (insertions, deletions, substitutions, adjacent
    transpositions) between ``a`` and ``b``; any value above ``limit`` is ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[len(b)], limit + 1)


def _allowed(keyword: str) -> int:
    return 2 if len(keyword) >= TWO_EDITS_FROM else 1


@dataclass(frozen=True, slots=True)
class _Word:
    kind: str  # consent, withdraw, all, help, yes, no, unknown
    value: str = ""
    rule: Rule | None = None


class Matcher:
    """Reads texts against one set of keywords and their inflected forms."""

    def __init__(self, keywords: Iterable[str] = CONSENTS,
                 forms: Mapping[str, Iterable[str]] | None = None) -> None:
        self._keywords = tuple(keywords)
        self._exact = {fold(k): k for k in self._keywords}
        self._forms: dict[str, str] = {}
        for k, fs in (forms or {}).items():
            for f in fs:
                self._forms.setdefault(fold(f), k)
        # Typo targets: each consent's keyword and forms, the withdrawal and "all" words.
        self._targets: list[tuple[str, str, str, int]] = []  # (word, kind, value, allowed)
        for folded, k in [*self._exact.items(), *self._forms.items()]:
            self._targets.append((folded, "consent", k, _allowed(k)))
        # Which withdrawal word or "all" word a typo was of does not matter.
        for w in WITHDRAW_WORDS:
            self._targets.append((w, "withdraw", STOP, 1))
        for w in ALL_WORDS - {"ALL"}:
            self._targets.append((w, "all", "VISS", 1))

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> Matcher:
        """A matcher for the catalog's keywords and their inflected forms."""
        return cls(catalog.keywords, {k: d.forms for k, d in catalog.consents.items()})

    def read(self, text: str) -> Reading:
        """What ``text`` means. Never raises."""
        exact = parse(text, self._keywords)
        if isinstance(exact, Give):
            return Reading(Intent.GIVE, exact.consent, (Rule.EXACT,))
        if isinstance(exact, Withdraw):
            return Reading(Intent.WITHDRAW, exact.consent, (Rule.EXACT,))
        stripped = fold(text).strip()
        if stripped and set(stripped) <= {"?", " "}:
            return Reading(Intent.HELP, rules=(Rule.EXACT,))
        words, punctuation = _words(text)
        if len(words) > MAX_WORDS:
            return Reading(Intent.UNKNOWN, why="too_long")
        rules: list[Rule] = [Rule.PUNCTUATION] if punctuation else []
        kept = [w for w in words if w not in FILLER_WORDS]
        if len(kept) < len(words):
            rules.append(Rule.FILLER)
        if not kept:
            return Reading(Intent.UNKNOWN, why="no_command")
        read = [self._word(w) for w in kept]
        rules += sorted({r.rule for r in read if r.rule is not None}, key=list(Rule).index)
        reading = self._combine(read, tuple(rules) or (Rule.EXACT,))
        if reading.intent is Intent.GIVE and _looks_like_withdrawal(fold(text)):
            return Reading(Intent.UNKNOWN, why="withdrawal_unclear")
        return reading

    def _combine(self, read: list[_Word], rules: tuple[Rule, ...]) -> Reading:
        kinds = [r.kind for r in read]
        if "ambiguous" in kinds:
            return Reading(Intent.UNKNOWN, why="ambiguous")
        if kinds.count("consent") > 1:
            return Reading(Intent.UNKNOWN, why="two_consents")
        if len(read) == 1:
            (w,) = read
            if w.kind == "consent":
                return Reading(Intent.GIVE, w.value, rules)
            if w.kind == "withdraw_of":
                return Reading(Intent.WITHDRAW, w.value, rules)
            alone = _ALONE.get(w.kind)
            if alone is not None:
                return Reading(alone, None, rules)
            return Reading(Intent.UNKNOWN, why="nothing_close")
        if len(read) == 2 and "withdraw" in kinds:
            other = read[1] if kinds[0] == "withdraw" else read[0]
            if other.kind == "consent":
                return Reading(Intent.WITHDRAW, other.value, rules)
            if other.kind == "all":
                return Reading(Intent.STOP_ALL, None, rules)
        return Reading(Intent.UNKNOWN, why="nothing_close")

    def _word(self, word: str) -> _Word:
        if word in self._exact:
            return _Word("consent", self._exact[word])
        if word in WITHDRAW_WORDS:
            return _Word("withdraw", word)
        for kind, vocabulary in (("all", ALL_WORDS), ("help", HELP_WORDS), ("yes", YES_WORDS),
                                 ("no", NO_WORDS)):
            if word in vocabulary:
                return _Word(kind, word)
        if word in self._forms:
            return _Word("consent", self._forms[word], Rule.FORM)
        # A missing space before/after STOP ("VIETUSTOP", "STOPJAUNUMUS").
        for rest in (word[: -len(STOP)] if word.endswith(STOP) else "",
                     word[len(STOP):] if word.startswith(STOP) else ""):
            if rest:
                inner = self._word(rest)
                if inner.kind == "consent":
                    return _Word("withdraw_of", inner.value, inner.rule)
        return self._typo(word)

    def _typo(self, word: str) -> _Word:
        close = {(kind, value) for target, kind, value, allowed in self._targets
                 if edits(word, target, allowed) <= allowed}
        if not close:
            return _Word("unknown", word)
        if len(close) > 1:
            return _Word("ambiguous", word)
        ((kind, value),) = close
        return _Word(kind, value, Rule.TYPO)


def _words(text: str) -> tuple[list[str], bool]:
    """The folded words with emoji, symbols and punctuation (other than the trailing
    ``.!?`` the exact parser already drops) taken as separators, and whether any were."""
    words: list[str] = []
    removed = False
    for token in tokens(text):
        # Inside a word they separate ("VIETA,STOP"); they never join its pieces into one
        # word ("VI\ufffdETA" is two words, not VIETA).
        pieces = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in token)
        removed = removed or pieces != token
        words.extend(pieces.split())
    return words, removed


def _looks_like_withdrawal(folded: str) -> bool:
    """True when some stretch of ``folded`` is within one edit of a withdrawal word."""
    letters = "".join(ch if ch.isalnum() else " " for ch in folded)
    for chunk in letters.split():
        for w in WITHDRAW_WORDS:
            for size in range(len(w) - 1, len(w) + 2):
                for start in range(0, max(0, len(chunk) - size) + 1):
                    if edits(chunk[start:start + size], w, 1) <= 1:
                        return True
    return False


_DEFAULT: Final[Matcher] = Matcher()


def understand(text: str, matcher: Matcher = _DEFAULT) -> Reading:
    """``matcher.read(text)``; the default matcher knows the keywords but no inflected
    forms (``Matcher.for_catalog`` knows the catalog's)."""
    return matcher.read(text)
