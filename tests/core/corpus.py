"""A corpus of texts subscribers send, each with the reading it must get.

Each entry is ``(text, expected, danger)``. ``expected`` is one of ``give K`` (an exact
give), ``ask K`` (a near-miss give: waits for JĀ), ``withdraw K [K …]`` (in the order
written), ``all`` (everything in force), ``stop_info`` (a bare STOP: nothing withdrawn),
``explain K`` (a question), ``help``, ``yes``, ``no``, ``unknown``. ``danger`` marks the
texts where a wrong give would record a consent nobody gave (every "no", question and
withdrawal that names a consent or answers a question).

Written per kind, with each consent in the Latvian case the sentence needs: the
accusative after "nevēlos", the genitive or dative after "no", the nominative before STOP.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    text: str
    expected: str
    danger: bool


# keyword: (nominative as typed, accusative, after "no", genitive)
FORMS = {
    "JAUNUMI": ("Jaunumi", "jaunumus", "jaunumiem", "jaunumu"),
    "METADATI": ("Metadati", "metadatus", "metadatiem", "metadatu"),
    "AUTO": ("Auto", "AUTO", "AUTO", "AUTO"),
    "VIETA": ("Vieta", "vietu", "vietas", "vietas"),
    "SADARBIBA": ("Sadarbība", "sadarbību", "sadarbības", "sadarbības"),
}

# Withdrawals of one consent in people's own words: {k} the keyword in capitals, {nom},
# {acc}, {no}, {gen} its forms.
WITHDRAW_ONE = [
    # Latvian verbs and negations, before or after the name, any inflection
    "nevēlos {acc}", "Nevēlos saņemt {acc}", "negribu {acc}", "Negribu vairs {acc}",
    "Es nevēlos {acc}", "Atsakos no {no}", "es atsakos no {no}", "Apturēt {k}",
    "Lūdzu atsauciet manu piekrišanu {k}", "{k} ATSAUCU", "{k} STOPĒT", "atsaukt {acc}",
    "Atsauciet {k}", "atceliet {acc}", "Pārtraukt {k}", "{k} atcelt lūdzu", "atteikties no {no}",
    "Lūdzu izslēgt {k}", "{nom} vairs nevajag", "nevajag {acc}", "Nepiekrītu {k}",
    "dzēst {k}", "{k} atsaukums",
    # our own reply fragments copied back
    "{k} STOP uz 29307777", "Atsaukt: {k} STOP", "Lai atsauktu: {k} STOP", "{k} STOP: ",
    # filler and politeness around the exact command
    "Lūdzu {k} STOP, paldies", "Labdien! {k} stop", "{k} stop lūdzu", "STOP {k} paldies",
    "sveiki, {k} stop.",
    # English opt-out words
    "CANCEL {k}", "UNSUBSCRIBE {k}", "{k} UNSUBSCRIBE", "stop {k} please", "OPT OUT {k}",
    "REVOKE {k}", "QUIT {k}", "END {k}", "{k} optout", "I don't want {k}", "no more {k}",
    "please remove {k}",
    # Russian
    "{k} СТОП", "СТОП {k}", "отписаться {k}", "Отменить {k}", "отказ {k}",
    # negation: words, glued NE, emoji
    "NE {k}", "NE{k}", "nē {k}", "{k} ne", "{k} nē", "NO {k}", "not {k}", "🚫 {k}",
    "{k} 🛑", "❌{k}", "{k} 👎", "⛔ {k}", "НЕ {k}",
    # STOP cut short, misspelt or in look-alike letters
    "{k}ST", "{k}STO", "{k} STPO", "{k}STP", "{k} СТОР", "{k} CTOP", "{k} SOTP",
]

SEVERAL = [
    ("VIETA STOP AUTO STOP", ["VIETA", "AUTO"]),
    ("JAUNUMI STOP, VIETA STOP", ["JAUNUMI", "VIETA"]),
    ("VIETA, AUTO STOP", ["VIETA", "AUTO"]),
    ("STOP VIETA AUTO", ["VIETA", "AUTO"]),
    ("stop jaunumi un metadati", ["JAUNUMI", "METADATI"]),
    ("Atsaukt JAUNUMI, METADATI, VIETA", ["JAUNUMI", "METADATI", "VIETA"]),
    ("nevēlos jaunumus un vietu", ["JAUNUMI", "VIETA"]),
    ("SADARBIBA STOP\nAUTO STOP\nVIETA STOP", ["SADARBIBA", "AUTO", "VIETA"]),
    ("AUTO STOP; METADATI STOP", ["AUTO", "METADATI"]),
    ("stop auto, stop vieta", ["AUTO", "VIETA"]),
    ("METADATI STOP VIETA STOP JAUNUMI STOP", ["METADATI", "VIETA", "JAUNUMI"]),
    ("Lūdzu atsaukt VIETA un SADARBIBA", ["VIETA", "SADARBIBA"]),
    ("UNSUBSCRIBE VIETA AUTO", ["VIETA", "AUTO"]),
    ("🚫 JAUNUMI 🚫 VIETA", ["JAUNUMI", "VIETA"]),
    ("negribu ne jaunumus, ne metadatus", ["JAUNUMI", "METADATI"]),
    ("VIETA STOP, JAUNUMI", ["VIETA", "JAUNUMI"]),  # "no" beside a give: never a give
    ("JAUNUMI VIETA STOP", ["JAUNUMI", "VIETA"]),
    ("VIETA STOP JAUNUMI", ["VIETA", "JAUNUMI"]),
    ("СТОП AUTO VIETA", ["AUTO", "VIETA"]),
    ("cancel jaunumi and vieta", ["JAUNUMI", "VIETA"]),
    ("AUTOSTOP VIETASTOP", ["AUTO", "VIETA"]),
    ("JAUNUMI STOP METADATI STOP AUTO STOP VIETA STOP SADARBIBA STOP",
     ["JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"]),
]

ALL = [
    "VISS STOP", "VISSSTOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE ALL", "Atsaukt visas piekrišanas",
    "atsaucu visas", "Visu stop", "stop viss", "СТОП ВСЕ", "отписаться от всех",
    "Lūdzu atsaukt visas manas piekrišanas", "stopall please", "Viss stop!", "VISS STOP uz 29307777",
    "cancel all", "Atsakos no visām piekrišanām", "STOP VISUS", "quit all", "viss stop paldies",
    "VISAS STOP", "Nevēlos neko no visa",
]

STOP_INFO = [
    "STOP", "stop.", "UNSUBSCRIBE", "СТОП", "отписаться", "CANCEL", "QUIT", "negribu",
    "nevēlos", "🛑", "Atsaukt", "STOP lūdzu", "END", "Stop!!!", "REVOKE", "OPTOUT", "opt out",
    "atceliet", "Nevēlos vairs saņemt ziņas", "stop sending me messages", "ХВАТИТ",
    "atsakos", "Lūdzu pārtrauciet", "🚫", "STOP STOP",
]

# Questions about one consent: its meaning, never a give.
QUESTIONS = [
    "{k}?", "{nom} ?", "kas ir {k}", "Kas ir {k}?", "Ko nozīmē {k}?", "what is {k}?",
    "{k}??", "Kāpēc {k}?", "info {k}", "HELP {k}", "Что такое {k}?", "kas ir {acc}?",
]

GIVE_EXACT = ["{k}", "{nom}", " {k} ", "{k}.", "{k}!", "{nom}!", "\u200b{k}"]

# Near misses of a give: wait for JĀ.
ASK = [
    "{acc}", "lūdzu {k}", "{k} 😊", "Gribu {acc}", "Jā {k}", "{k} lūdzu", "Es gribu {acc}",
    "labdien, {k}", "please {k}", "I want {k}", "{k} paldies", "\"{k}\"", "{k} 👍",
    "Piekrītu {k}",
]
# Typos and look-alike letters of one consent (written per consent).
ASK_TYPOS = [
    ("VIETTA", "VIETA"), ("VITEA", "VIETA"), ("JANUMI", "JAUNUMI"), ("JAUNUMMI", "JAUNUMI"),
    ("METDATI", "METADATI"), ("METADATII", "METADATI"), ("AUOT", "AUTO"), ("AUTTO", "AUTO"),
    ("SADARBIB", "SADARBIBA"), ("SADRBIBA", "SADARBIBA"), ("АUТО", "AUTO"),
    ("VIЕTA", "VIETA"), ("ЈAUNUMI", "JAUNUMI"), ("ΑUTO", "AUTO"), ("МЕТАDATI", "METADATI"),
    ("vietu", "VIETA"), ("vietas", "VIETA"), ("JAUNUMU", "JAUNUMI"), ("Sadarbību", "SADARBIBA"),
    ("metadatus", "METADATI"), ("VIETI", "VIETA"),
]

YES = ["JĀ", "jaa", "Jā jā", "Jā, piekrītu", "YES", "ja", "Jā!", "Да", "piekrītu", "jā.",
       "Ja", "yes please", "Jā lūdzu", "JAA!", "Jā, paldies"]
NO = ["NĒ", "nee", "Nepiekrītu", "NO", "ne", "Nē, paldies", "Нет", "nē!", "Nē.", "no thanks"]
HELP = ["HELP", "?", "palīgs", "info", "Palīdzība?", "kas?", "???", "PALIGS", "Kā tas strādā?",
        "komandas", "help!", "Labdien, kā iet?"]
UNKNOWN = [
    ("JAUNUMI VIETA", True), ("jaunumus un vietu", True), ("sveiki", False), ("xyz", False),
    ("gribu pici", False), ("VIETA 2", True), ("VIETA AUTO", True), ("paldies", False),
    ("😊", False), ("AUTO VIETA JAUNUMI", True), ("Kur ir mans rēķins", False),
    ("VIETA 29", True), ("zvaniet man", False),
]


def cases() -> list[Case]:
    out: list[Case] = []
    for k, (nom, acc, no, gen) in FORMS.items():
        fill = {"k": k, "nom": nom, "acc": acc, "no": no, "gen": gen}
        out += [Case(t.format(**fill), f"withdraw {k}", True) for t in WITHDRAW_ONE]
        out += [Case(t.format(**fill), f"explain {k}", True) for t in QUESTIONS]
        out += [Case(t.format(**fill), f"give {k}", False) for t in GIVE_EXACT]
        out += [Case(t.format(**fill), f"ask {k}", False) for t in ASK
                if t.format(**fill).strip() != k]
    out += [Case(t, f"ask {k}", False) for t, k in ASK_TYPOS]
    out += [Case(t, "withdraw " + " ".join(ks), True) for t, ks in SEVERAL]
    out += [Case(t, "all", True) for t in ALL]
    out += [Case(t, "stop_info", True) for t in STOP_INFO]
    out += [Case(t, "yes", False) for t in YES]
    out += [Case(t, "no", True) for t in NO]
    out += [Case(t, "help", False) for t in HELP]
    # a question about several consents gets the help text (it lists them all)
    out += [Case(t, "help", True) for t in ("VIETA JAUNUMI AUTO?", "kas ir VIETA un AUTO?")]
    out += [Case(t, "unknown", danger) for t, danger in UNKNOWN]
    return list({c.text: c for c in out}.values())
