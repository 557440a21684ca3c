"""What a subscriber meant: every text read as a `Reading`.

One principle (docs/commands.md): **read a withdrawal generously and a give strictly; when
unsure between "no" and anything else, withdraw or ask — never give.**

`parse` (the exact command language) always wins. A text it refuses is read word by word:

- a text with any sign of "no" — a withdrawal word or verb in any inflection (`STOP`,
  `atsaucu`, `nevēlos`, `UNSUBSCRIBE`, `СТОП`), a negation (`NE`, `negribu`, `don't`, `NE`
  glued on: `NEMETADATI`), a stop or cross emoji, STOP cut short or misspelt glued on
  (`SADARBIBAST`) — is never a give: it withdraws every consent it names, in the order
  written (`VIETA STOP AUTO STOP`), everything in force with an "all" word (`VISSSTOP`,
  `STOPALL`, `Atsaukt visas piekrišanas`), and otherwise asks what is in force (a bare
  STOP; `NĒ` alone answers a question);
- a question (`VIETA?`, `kas ir VIETA`) is answered with the consent's meaning, never given;
- a give needs exactly one consent and nothing unknown around it; anything but the exact
  keyword (an inflected form, a typo, filler, emoji, letters from another script) is a
  near miss that waits for JĀ.

Letters from other scripts that look like Latin ones (Cyrillic `СТОР`, Greek `ΑΥΤΟ`) are
folded with the Unicode confusables data (UTS #39) of the `confusable-homoglyphs` package,
after the Russian words have had their chance. Pure and total: never raises, whatever the
``str``; the confusables data is package data loaded once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Final

from consent_core.catalog import Catalog
from consent_core.model import CONSENTS, Give, Withdraw
from consent_core.parse import STOP, asks, fold, parse, tokens
from consent_core.vocabulary import (
    ALL_WORDS,
    BASE_ALL,
    BASE_ANSWERS,
    FILLER_WORDS,
    HELP_WORDS,
    NEGATED_STEMS,
    NEGATION_SYMBOLS,
    NEGATION_WORDS,
    NO_WORDS,
    QUESTION_WORDS,
    STOP_WORDS,
    WITHDRAW_STEMS,
    WITHDRAW_WORDS,
    YES_WORDS,
)

__all__ = ["FILLER_WORDS", "Intent", "Matcher", "Reading", "Rule", "edits", "understand"]


class Intent(StrEnum):
    GIVE = "give"
    WITHDRAW = "withdraw"  # one consent or several (``Reading.consents``), in order written
    HELP = "help"
    STOP_INFO = "stop_info"  # a bare STOP: what is in force, nothing changes
    STOP_ALL = "stop_all"  # VISS STOP: withdraw everything in force
    YES = "yes"
    NO = "no"
    EXPLAIN = "explain"  # a question about a consent: its meaning, nothing changes
    UNKNOWN = "unknown"


class Rule(StrEnum):
    EXACT = "exact"
    FORM = "form"
    TYPO = "typo"
    FILLER = "filler"
    PUNCTUATION = "punctuation"
    WORDS = "words"  # a verb, negation, answer or opt-out word beyond the exact command
    SCRIPT = "script"  # look-alike letters of another script folded (UTS #39)
    SEVERAL = "several"  # several consents named
    QUESTION = "question"


@dataclass(frozen=True, slots=True)
class Reading:
    """What a text was understood as. ``rules``: how (``exact`` alone for a text `parse`
    accepts). ``consent`` for give/withdraw/explain, ``more`` the further consents a
    withdrawal names. ``why`` says why an ``unknown`` is unknown."""

    intent: Intent
    consent: str | None = None
    rules: tuple[Rule, ...] = ()
    why: str | None = None
    more: tuple[str, ...] = ()

    @property
    def consents(self) -> tuple[str, ...]:
        """Every consent the reading names, in the order written."""
        return () if self.consent is None else (self.consent, *self.more)

    @property
    def near_miss(self) -> bool:
        return bool(self.rules) and self.rules != (Rule.EXACT,)

    @property
    def rule(self) -> str:
        """The rules as one ledger value, e.g. ``filler+typo``."""
        return "+".join(r.value for r in self.rules) if self.rules else (self.why or "none")

    @property
    def understood(self) -> str:
        """The command as understood, in canonical form (``VIETA STOP``, ``JAUNUMI``,
        ``VIETA STOP, AUTO STOP``)."""
        if self.intent is Intent.WITHDRAW:
            return ", ".join(f"{k} {STOP}" for k in self.consents)
        return {
            Intent.GIVE: self.consent or "",
            Intent.HELP: "PALĪGS",
            Intent.STOP_INFO: STOP,
            Intent.STOP_ALL: f"VISS {STOP}",
            Intent.YES: "JĀ",
            Intent.NO: "NĒ",
            Intent.EXPLAIN: f"{self.consent}?",
            Intent.UNKNOWN: "",
        }[self.intent]


# A text of more words than this is a message, not a command: a give is not searched for
# in it. A withdrawal is (generously), in its first SCAN_WORDS words.
MAX_WORDS: Final[int] = 12
SCAN_WORDS: Final[int] = 60
# A keyword this long or longer is still recognised with two edits; shorter ones with one.
TWO_EDITS_FROM: Final[int] = 8
# Word kinds that are a sign of "no".
_NEGATIVE: Final[frozenset[str]] = frozenset({"withdraw", "negation", "no", "withdraw_of",
                                              "all_withdraw"})


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
    # consent, withdraw, negation, no, yes, all, all_withdraw, help, question, withdraw_of,
    # unknown, ambiguous
    kind: str
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
        for w in STOP_WORDS:
            self._targets.append((w, "withdraw", STOP, 1))
        for w in BASE_ALL:
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
        words, punctuation, symbols = _words(text)
        rules: set[Rule] = {Rule.PUNCTUATION} if punctuation else set()
        read: list[_Word] = []
        for word in words[:SCAN_WORDS]:
            if word in FILLER_WORDS or (word.isdigit() and word.endswith("29307777")):
                rules.add(Rule.FILLER)
                continue
            w = self._word(word)
            if w.rule is None and not _base(w, word):
                w = _Word(w.kind, w.value, Rule.WORDS)
            if w.rule is not None:
                rules.add(w.rule)
            read.append(w)
        negative = symbols or any(w.kind in _NEGATIVE for w in read) \
            or _looks_like_withdrawal(fold(text))
        if negative:
            return self._withdrawal(read, rules)
        if len(words) > MAX_WORDS:
            return Reading(Intent.UNKNOWN, why="too_long")
        if asks(text) or any(w.kind in ("question", "help") for w in read):
            return self._question(read, rules)
        return self._give(read, rules)

    def _withdrawal(self, read: list[_Word], rules: set[Rule]) -> Reading:
        """A text with a sign of "no": never a give (GDPR Art. 7(3): withdrawing is as easy
        as giving; a wrong withdrawal costs one SMS to give again, a wrong give records a
        consent nobody gave)."""
        named = tuple(dict.fromkeys(w.value for w in read
                                    if w.kind in ("consent", "withdraw_of")))
        if len(named) > 1:
            rules.add(Rule.SEVERAL)
        how = _ordered(rules) or (Rule.EXACT,)
        if named:
            return Reading(Intent.WITHDRAW, named[0], how, more=named[1:])
        kinds = {w.kind for w in read}
        if kinds & {"all", "all_withdraw"}:
            return Reading(Intent.STOP_ALL, None, how)
        if kinds and kinds <= {"no"}:
            return Reading(Intent.NO, None, how)
        return Reading(Intent.STOP_INFO, None, how)

    def _question(self, read: list[_Word], rules: set[Rule]) -> Reading:
        """A question: answered, never given (it is no indication of wishes)."""
        named = tuple(dict.fromkeys(w.value for w in read if w.kind == "consent"))
        rules.add(Rule.QUESTION)
        if len(named) == 1:
            return Reading(Intent.EXPLAIN, named[0], _ordered(rules))
        return Reading(Intent.HELP, None, (Rule.EXACT,) if rules == {Rule.QUESTION}
                       and all(w.kind == "help" for w in read) else _ordered(rules))

    def _give(self, read: list[_Word], rules: set[Rule]) -> Reading:
        """Strict: one consent, nothing unknown beside it; anything but the keyword alone
        (which `parse` took) is a near miss that waits for JĀ."""
        kinds = [r.kind for r in read]
        if not read:
            return Reading(Intent.UNKNOWN, why="no_command")
        if "ambiguous" in kinds:
            return Reading(Intent.UNKNOWN, why="ambiguous")
        if "unknown" in kinds or "all" in kinds:
            return Reading(Intent.UNKNOWN, why="nothing_close")
        named = [r.value for r in read if r.kind == "consent"]
        if len(set(named)) > 1:
            return Reading(Intent.UNKNOWN, why="two_consents")
        if named:
            # "VIETA VIETA", "Jā, VIETA", "gribu VIETA": still one give, asked about.
            if len(read) > 1:
                rules.add(Rule.WORDS)
            return Reading(Intent.GIVE, named[0], _ordered(rules) or (Rule.EXACT,))
        if set(kinds) == {"yes"}:
            return Reading(Intent.YES, None, _ordered(rules) or (Rule.EXACT,))
        if set(kinds) == {"help"}:
            return Reading(Intent.HELP, None, _ordered(rules) or (Rule.EXACT,))
        return Reading(Intent.UNKNOWN, why="nothing_close")

    def _word(self, word: str) -> _Word:
        if word in self._exact:
            return _Word("consent", self._exact[word])
        vocabulary = _vocabulary(word)
        if vocabulary is not None:
            return vocabulary
        if word in self._forms:
            return _Word("consent", self._forms[word], Rule.FORM)
        glued = self._glued(word)
        if glued is not None:
            return glued
        typo = self._typo(word)
        if typo.kind != "unknown" or word.isascii():
            return typo
        # Letters of another script that look like Latin ones ("АUТО" with a Cyrillic А).
        latin = _latin_lookalike(word)
        if latin is None or latin == word:
            return typo
        w = self._word(latin)
        return w if w.kind == "unknown" else _Word(w.kind, w.value, Rule.SCRIPT)

    def _glued(self, word: str) -> _Word | None:
        """A word that is two glued together: a consent and a withdrawal word, whole, cut
        short or misspelt (`VIETASTOP`, `STOPJAUNUMUS`, `SADARBIBAST`, `SADARBIBASTP`); an
        "all" word and STOP (`VISSSTOP`, `STOPALL`); NE and a consent (`NEMETADATI`)."""
        if word.startswith("NE") and len(word) > 2:
            inner = self._consent(word[2:])
            if inner is not None:
                return _Word("withdraw_of", inner.value, Rule.WORDS)
        for cut in range(2, len(word) - 1):
            head, tail = word[:cut], word[cut:]
            for stop, rest in ((tail, head), (head, tail)):
                if not _stop_like(stop, suffix=stop is tail):
                    continue
                if rest in ALL_WORDS:
                    return _Word("all_withdraw", "VISS", Rule.WORDS if stop != STOP
                                 or rest not in BASE_ALL else None)
                inner = self._consent(rest)
                if inner is not None:
                    rule = inner.rule or (None if stop == STOP else Rule.TYPO)
                    return _Word("withdraw_of", inner.value, rule)
        return None

    def _consent(self, word: str) -> _Word | None:
        if word in self._exact:
            return _Word("consent", self._exact[word])
        if word in self._forms:
            return _Word("consent", self._forms[word], Rule.FORM)
        typo = self._typo(word)
        return typo if typo.kind == "consent" else None

    def _typo(self, word: str) -> _Word:
        close = {(kind, value) for target, kind, value, allowed in self._targets
                 if edits(word, target, allowed) <= allowed}
        if not close:
            return _Word("unknown", word)
        if len(close) > 1:
            return _Word("ambiguous", word)
        ((kind, value),) = close
        return _Word(kind, value, Rule.TYPO)


def _vocabulary(word: str) -> _Word | None:
    """The kind of a word of the subscribers' vocabulary (consent_core.vocabulary)."""
    if word in NO_WORDS:
        return _Word("no", word)
    if word in YES_WORDS:
        return _Word("yes", word)
    if word in STOP_WORDS or word in WITHDRAW_WORDS or word.startswith(WITHDRAW_STEMS):
        return _Word("withdraw", word)
    if word in NEGATION_WORDS or (word.startswith("NE") and word[2:].startswith(NEGATED_STEMS)):
        return _Word("negation", word)
    if word in ALL_WORDS:
        return _Word("all", word)
    if word in HELP_WORDS:
        return _Word("help", word)
    if word in QUESTION_WORDS:
        return _Word("question", word)
    return None


def _base(w: _Word, word: str) -> bool:
    """Is ``word`` part of the exact command language (no `words` rule needed)?"""
    if w.kind in ("consent", "withdraw_of", "unknown", "ambiguous", "help"):
        return True
    if w.kind == "withdraw":
        return word in STOP_WORDS
    if w.kind in ("yes", "no"):
        return word in BASE_ANSWERS
    if w.kind == "all":
        return word in BASE_ALL
    return w.kind == "all_withdraw"


def _stop_like(piece: str, *, suffix: bool) -> bool:
    """``piece`` is STOP, within one edit of a withdrawal word, or (glued after a consent)
    STOP cut short to two or three letters."""
    if suffix and len(piece) >= 2 and STOP.startswith(piece):
        return True
    return len(piece) >= 3 and any(edits(piece, w, 1) <= 1 for w in STOP_WORDS)


# The order rules are named in on the ledger (``punctuation+filler+form``).
_RULE_ORDER: Final[tuple[Rule, ...]] = (
    Rule.EXACT, Rule.PUNCTUATION, Rule.FILLER, Rule.FORM, Rule.TYPO, Rule.SCRIPT, Rule.WORDS,
    Rule.SEVERAL, Rule.QUESTION)


def _ordered(rules: set[Rule]) -> tuple[Rule, ...]:
    return tuple(r for r in _RULE_ORDER if r in rules)


def _words(text: str) -> tuple[list[str], bool, bool]:
    """The folded words with emoji, symbols and punctuation (other than the trailing
    ``.!?`` the exact parser already drops) taken as separators, whether any were, and
    whether any of them says "no" (🚫 🛑 ❌ 👎 …)."""
    words: list[str] = []
    removed = False
    symbols = any(ch in NEGATION_SYMBOLS for ch in text)
    for token in tokens(text):
        # Inside a word they separate ("VIETA,STOP"); they never join its pieces into one
        # word ("VI\ufffdETA" is two words, not VIETA).
        pieces = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in token)
        removed = removed or pieces != token
        words.extend(pieces.split())
    # "OPT OUT" as two words is the opt-out word too.
    for i in range(len(words) - 1):
        if words[i] == "OPT" and words[i + 1] == "OUT":
            words[i:i + 2] = ["OPTOUT"]
            break
    return words, removed, symbols


def _looks_like_withdrawal(folded: str) -> bool:
    """True when some stretch of ``folded`` is within one edit of a withdrawal word."""
    letters = "".join(ch if ch.isalnum() else " " for ch in folded)
    for chunk in letters.split():
        if not chunk.isascii():
            continue
        for w in STOP_WORDS:
            for size in range(len(w) - 1, len(w) + 2):
                for start in range(0, max(0, len(chunk) - size) + 1):
                    if edits(chunk[start:start + size], w, 1) <= 1:
                        return True
    return False


@lru_cache(maxsize=4096)
def _latin_lookalike(word: str) -> str | None:
    """``word`` with every letter of another script replaced by the Latin letter it is
    confusable with (Unicode confusables, UTS #39), or None when one has no Latin twin."""
    # Imported here: the data takes about a second to load, paid once per process by the
    # first text with a letter of another script, not by every process that reads texts.
    from confusable_homoglyphs import confusables

    out = []
    for ch in word:
        if ch.isascii():
            out.append(ch)
            continue
        found = confusables.is_confusable(ch, preferred_aliases=["latin"], greedy=True)
        twins = [h["c"] for entry in found or () for h in entry["homoglyphs"]
                 if h["c"].isascii() and h["c"].isalpha() and len(h["c"]) == 1]
        if not twins:
            return None
        out.append(twins[0].upper())
    return "".join(out)


_DEFAULT: Final[Matcher] = Matcher()


def understand(text: str, matcher: Matcher = _DEFAULT) -> Reading:
    """``matcher.read(text)``; the default matcher knows the keywords but no inflected
    forms (``Matcher.for_catalog`` knows the catalog's)."""
    return matcher.read(text)
