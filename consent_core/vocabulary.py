"""The words subscribers use around the five keywords, folded (upper case, no diacritics).

Latvian first (the subscribers'), then English (the industry's standard opt-out words:
STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) and Russian (spoken by a
third of Latvia's residents). Only data: `consent_core.understand` reads texts with it.
Latvian verbs are matched by stem, so every inflection counts (`ATSAUC` covers atsaucu,
atsauc, atsauciet, atsaucam; `ATTEIK`/`ATSAK` cover atteikties, atsakos, atsakāmies).
"""

from __future__ import annotations

from typing import Final

# The exact withdrawal words of the command language (consent_core.parse).
STOP_WORDS: Final[frozenset[str]] = frozenset({"STOP", "ATSAUKT", "ATCELT"})

# A word that says "stop this", alone or beside a consent's name.
WITHDRAW_WORDS: Final[frozenset[str]] = STOP_WORDS | frozenset({
    # English opt-out words (CTIA/industry standard) and their everyday companions
    "STOPP", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
    "WITHDRAW", "REMOVE", "DISABLE",
    # truncated STOP ("VIETA ST" sent half-typed)
    "ST", "STO",
    # Russian
    "СТОП", "ХВАТИТ",
})
# Stems: a word starting with one of these is a withdrawal verb in any inflection.
WITHDRAW_STEMS: Final[tuple[str, ...]] = (
    "ATSAUK", "ATSAUC",            # atsaukt, atsaucu, atsauciet, atsaukums
    "ATCEL",                       # atcelt, atceliet, atcelšana
    "ATSAK", "ATTEIK", "ATTEIC",   # atsakos, atteikties, atteicos
    "APTUR",                       # apturēt, apturiet
    "STOPE",                       # stopēt, stopējiet
    "PARTRAUK", "PARTRAUC",        # pārtraukt, pārtraucu
    "IZSLEG", "IZSLEDZ",           # izslēgt, izslēdziet
    "DZES",                        # dzēst, dzēsiet
    "ANULE",                       # anulēt
    "UNSUBSCRIB", "OPTOUT",
    "ОТПИС", "ОТМЕН", "ОТКАЗ", "ОТОЗВ", "ОТЗЫВ", "ПРЕКРАТ", "УДАЛ",  # Russian
)
# A word that negates what follows it ("NE", "negribu", "nevēlos", "don't").
NEGATION_WORDS: Final[frozenset[str]] = frozenset({
    "NE", "NAV", "NEKAD", "NOT", "DONT", "DON", "NEVER", "НЕ", "НЕХОЧУ", "НЕНАДО",
})
# NE glued to a verb of wanting or giving: negribu, nevēlos, nevajag, nepiekrītu, nesūtiet.
NEGATED_STEMS: Final[tuple[str, ...]] = (
    "GRIB", "VEL", "VAJAG", "PIEKRIT", "SUT", "ZVAN", "DOD", "DOT", "ATLAU", "APSTIPRIN",
    "IZMANTO", "APSTRAD", "SNIEDZ", "SNIEG", "PIESAK", "INTERESE",
)
# The answer "no" (alone it declines a near-miss give; beside a consent it negates it).
NO_WORDS: Final[frozenset[str]] = frozenset({
    "NE", "NEE", "NEEE", "NO", "NOPE", "NEPIEKRITU", "НЕТ",
})
# The answer "yes" (JĀ typed as jaa, Jā jā, Jā, piekrītu; YES; ДА).
YES_WORDS: Final[frozenset[str]] = frozenset({
    "JA", "JAA", "JAAA", "YES", "YEP", "YEAH", "PIEKRITU", "APSTIPRINU", "ДА",
})
# Exactly the base answer words of the command language (any other is a `words` reading).
BASE_ANSWERS: Final[frozenset[str]] = frozenset({"JA", "YES", "NE", "NO"})
# "all" in VISS STOP, STOPALL, UNSUBSCRIBE ALL, Atsaukt visas piekrišanas, ВСЕ.
ALL_WORDS: Final[frozenset[str]] = frozenset({
    "VISS", "VISAS", "VISU", "VISUS", "VISI", "VISAM", "VISIEM", "PILNIGI",
    "ALL", "EVERYTHING", "ВСЕ", "ВСЕГО", "ВСЕХ",
})
BASE_ALL: Final[frozenset[str]] = frozenset({"VISS", "VISAS", "VISU", "VISUS", "VISI"})
HELP_WORDS: Final[frozenset[str]] = frozenset({
    "HELP", "INFO", "PALIGS", "PALIDZIBA", "KOMANDAS", "ПОМОЩЬ",
})
# Words that make a text naming a consent a question about it ("kas ir VIETA").
QUESTION_WORDS: Final[frozenset[str]] = frozenset({
    "KAS", "KO", "KA", "KAPEC", "KADA", "KADS", "KADI", "NOZIME", "PASTASTI", "PASKAIDRO",
    "WHAT", "WHATS", "WHY", "HOW", "EXPLAIN", "MEANS", "MEAN", "ЧТО", "ТАКОЕ", "ЗАЧЕМ",
    *HELP_WORDS,
})
# Politeness, greetings, pronouns, our own reply fragments (`VIETA STOP uz 29307777`,
# `Lai atsauktu, sūti VIETA STOP`) and the nouns around a command: dropped wherever they
# stand. A give among them is a near miss (it waits for JĀ); GRIBU/VĒLOS ("I want") are here
# because their negations are negations (NEGRIBU), never fillers.
FILLER_WORDS: Final[frozenset[str]] = frozenset({
    # Latvian
    "LUDZU", "LUDZAM", "LUDZ", "PALDIES", "LABDIEN", "LABRIT", "LABVAKAR", "SVEIKI",
    "SVEIKS", "CAU", "HEJ", "ES", "MES", "MAN", "MANU", "MANI", "MANS", "MANA", "MANAS",
    "MANUS", "MANAI", "MANAM", "MANIEM", "SAVU", "SAVAS", "SAVUS", "SAVA", "MUMS",
    "PIEKRISANA", "PIEKRISANU", "PIEKRISANAS", "PIEKRISANAM", "PIEKRISANAI",
    "ATLAUJA", "ATLAUJU", "ATLAUJAS", "DATI", "DATU", "DATUS", "DATIEM", "UZ", "LAI", "SUTI",
    "SUTU", "SUTIET", "RAKSTI", "NUMURU", "NUMURS", "NUMURA", "NUMURAM", "IR", "UN", "ARI",
    "VAIRS", "VAIRAK", "SANEMT", "TURPMAK", "LMT", "SMS", "TAS", "TO", "SO", "SIS", "SI",
    "GRIBU", "GRIBAM", "VELOS", "VELAMIES", "VELETOS", "DODU", "SNIEDZU", "PIESAKOS",
    "ATBILDE", "KOMANDA", "KOMANDU", "SAJA", "BRIDI",
    # English
    "PLEASE", "PLS", "PLZ", "THANKS", "THANK", "YOU", "THX", "HI", "HELLO", "I", "ME", "MY",
    "THE", "FOR", "FROM", "OF", "IT", "THIS", "AND", "WANT", "WOULD", "LIKE", "ANY",
    "MORE", "CONSENT", "CONSENTS", "MESSAGES", "DATA", "SEND", "SENDING", "IS", "A",
    # Russian
    "ПОЖАЛУИСТА", "СПАСИБО", "Я", "МНЕ", "МОЕ", "МОИ", "ОТ", "ХОЧУ", "ЗДРАВСТВУИТЕ",
    "ПРИВЕТ", "СОГЛАСИЕ", "СОГЛАСИЯ", "РАССЫЛКИ", "НА", "И",
    # the gateway's number as our replies write it
    "29307777", "37129307777",
})
# Emoji and symbols that say "no" or "stop": never a give, a withdrawal beside a consent.
NEGATION_SYMBOLS: Final[frozenset[str]] = frozenset({
    "\U0001F6AB",  # 🚫 no entry sign
    "\U0001F6D1",  # 🛑 stop sign
    "\u274C",      # ❌ cross mark
    "\u274E",      # ❎ negative squared cross mark
    "\u2716",      # ✖ heavy multiplication x
    "\u2715",      # ✕ multiplication x
    "\u2717",      # ✗ ballot x
    "\u2718",      # ✘ heavy ballot x
    "\U0001F44E",  # 👎 thumbs down
    "\u26D4",      # ⛔ no entry
    "\U0001F645",  # 🙅 person gesturing no
    "\U0001F515",  # 🔕 bell with cancellation stroke
    "\U0001F4F5",  # 📵 no mobile phones
    "\u270B",      # ✋ raised hand ("stop")
})
