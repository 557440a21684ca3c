"""The SMS command language: a subscriber's text → `Give`, `Withdraw` or `Unknown`.

Generous in *form* (case, spaces, diacritics, a trailing full stop, a missing space before
STOP), never in *meaning*: a consent is only recorded for a text that names it exactly,
because consent must be an unambiguous indication (GDPR Art. 4(11)); a wrong guess would
record a consent nobody gave. The accepted forms and the refusals are listed, with their
reasons, in `docs/commands.md`. Never raises, whatever the ``str``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Final

from consent_core.model import CONSENTS, Give, Unknown, Withdraw

# Words that, next to a consent keyword, mean "withdraw it". STOP is the seed's command
# word; ATSAUKT ("withdraw") and ATCELT ("cancel") are the Latvian verbs a subscriber would
# type. All are unambiguous only together with a keyword (a bare STOP is refused).
WITHDRAW_WORDS: Final[frozenset[str]] = frozenset({"STOP", "ATSAUKT", "ATCELT"})
STOP: Final[str] = "STOP"

# A trailing run of these (with spaces in between) is dropped: "VIETA STOP!", "Jaunumi..".
_TRAILING: Final[frozenset[str]] = frozenset(".!?")
# Word separators besides Unicode whitespace: hyphens/dashes ("VIETA-STOP") and "_".
_SEPARATOR_CATEGORIES: Final[frozenset[str]] = frozenset({"Zs", "Zl", "Zp", "Cc", "Pd"})


def fold(text: str) -> str:
    """Upper case without diacritics, compatibility forms folded (`Sadarbība` → `SADARBIBA`,
    full-width `ＶＩＥＴＡ` → `VIETA`, NBSP → space); invisible format characters (zero-width
    space, BOM, direction marks) removed."""
    # NFKD splits "ī" into "i" + U+0304 and maps full-width and other compatibility
    # characters to their plain forms; dropping combining marks (Mn) then strips the
    # diacritics. Upper-casing can itself produce a decomposable letter ("ǰ" → "J̌"), so
    # the folding runs again on the upper-cased text.
    once = _strip_marks(unicodedata.normalize("NFKD", text)).upper()
    return _strip_marks(unicodedata.normalize("NFKD", once))


def _strip_marks(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Mn", "Me", "Cf"))


def _is_separator(ch: str) -> bool:
    return ch.isspace() or ch == "_" or unicodedata.category(ch) in _SEPARATOR_CATEGORIES


def asks(text: str) -> bool:
    """True when ``text`` ends with a question mark (trailing spaces, `.` and `!` aside)."""
    folded = fold(text)
    end = len(folded)
    while end and (folded[end - 1] in ".!" or _is_separator(folded[end - 1])):
        end -= 1
    return end > 0 and folded[end - 1] == "?"


def tokens(text: str) -> list[str]:
    """The folded words of ``text``, trailing `.`/`!`/`?` dropped."""
    folded = fold(text)
    end = len(folded)
    while end and (folded[end - 1] in _TRAILING or _is_separator(folded[end - 1])):
        end -= 1
    words: list[str] = []
    current: list[str] = []
    for ch in folded[:end]:
        if _is_separator(ch):
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


def parse(text: str, keywords: Iterable[str] = CONSENTS) -> Give | Withdraw | Unknown:
    """Read a subscriber's text as a command on one of ``keywords`` (single words).

    The returned consent is the keyword as given in ``keywords``; ``Unknown`` keeps the
    text as received.
    """
    by_folded = {folded: k for k in keywords if (folded := fold(k))}
    words = tokens(text)
    if len(words) == 1:
        (word,) = words
        if word in by_folded:
            # "VIETA?" asks what VIETA is: a question is no indication of wishes, so it is
            # never a give (the reader at apply time answers it with the consent's meaning).
            return Unknown(text) if asks(text) else Give(by_folded[word])
        # "VIETASTOP" / "STOPVIETA": a missing space. No keyword starts or ends with STOP,
        # so the split is unambiguous.
        if word.endswith(STOP) and word[: -len(STOP)] in by_folded:
            return Withdraw(by_folded[word[: -len(STOP)]])
        if word.startswith(STOP) and word[len(STOP) :] in by_folded:
            return Withdraw(by_folded[word[len(STOP) :]])
    elif len(words) == 2:
        first, second = words
        if first in by_folded and second in WITHDRAW_WORDS:
            return Withdraw(by_folded[first])
        if first in WITHDRAW_WORDS and second in by_folded:
            return Withdraw(by_folded[second])
    return Unknown(text)
