"""The console's words in Latvian (default) and English."""

from __future__ import annotations

LANGUAGES = ("lv", "en")

_T: dict[str, tuple[str, str]] = {
    # key: (lv, en)
    "title": ("Piekrišanas — klientu centrs", "Consents — customer centre"),
    "sign_in": ("Pieteikties", "Sign in"),
    "sign_out": ("Iziet", "Sign out"),
    "agent": ("Darbinieks", "Agent"),
    "password": ("Parole", "Password"),
    "bad_login": ("Nepareizs lietotājvārds vai parole.", "Wrong name or password."),
    "too_many_logins": ("Pārāk daudz mēģinājumu; pamēģiniet pēc minūtes.",
                        "Too many attempts; try again in a minute."),
    "csrf": ("Forma ir novecojusi vai nav no šīs lapas. Atveriet lapu no jauna.",
             "The form is stale or not from this page. Open the page again."),
    "find": ("Atrast numuru", "Find a number"),
    "msisdn": ("Tālruņa numurs", "Phone number"),
    "search": ("Meklēt", "Search"),
    "bad_number": ("Tas nav tālruņa numurs.", "That is not a phone number."),
    "consents_now": ("Piekrišanas tagad", "Consents now"),
    "consents_at": ("Piekrišanas brīdī", "Consents at"),
    "show_at": ("Rādīt brīdī", "Show at"),
    "now": ("Tagad", "Now"),
    "consent": ("Piekrišana", "Consent"),
    "status": ("Statuss", "Status"),
    "since": ("Kopš", "Since"),
    "channel": ("Kanāls", "Channel"),
    "client_group": ("Klientu grupa", "Client group"),
    "not_in_directory": ("nav katalogā", "not in the directory"),
    "nothing_held": ("Par šo numuru nekas netiek glabāts.", "Nothing is held about this number."),
    "change": ("Dot vai atsaukt piekrišanu", "Give or withdraw a consent"),
    "action": ("Darbība", "Action"),
    "give": ("Dot", "Give"),
    "withdraw": ("Atsaukt", "Withdraw"),
    "reason": ("Iemesls", "Reason"),
    "reference": ("Atsauce (pieteikuma nr.)", "Reference (case no.)"),
    "guardian": ("Vecāks vai aizbildnis nepilngadīgā vārdā",
                 "Parent or guardian on behalf of a minor"),
    "save": ("Saglabāt", "Save"),
    "timeline": ("Vēsture", "Timeline"),
    "when": ("Laiks", "When"),
    "outcome": ("Rezultāts", "Outcome"),
    "text": ("Saņemtais teksts", "Text received"),
    "reply": ("Nosūtītā atbilde", "Reply sent"),
    "export": ("Lejupielādēt eksportu (JSON)", "Download the export (JSON)"),
    "contact": ("Reģistrēt saziņu", "Record a contact"),
    "contact_later": ("Saziņas reģistrēšana būs pieejama ar nākamo krātuves versiju.",
                      "Recording contacts comes with the next store release."),
    "applied": ("Izpildīts", "Applied"),
    "queued": ("Rindā; rezultāts parādīsies vēsturē.", "Queued; the outcome will show in the timeline."),
    "signed_in_as": ("Pieteicies", "Signed in as"),
    "language": ("English", "Latviski"),
    "signed_out": ("Jūs esat izgājis.", "You are signed out."),
    "given": ("dota", "given"),
    "withdrawn": ("atsaukta", "withdrawn"),
    "lapsed": ("beigusies", "lapsed"),
    "none": ("nav", "none"),
    # outcomes, as the timeline and the answer to a change show them
    "o_given": ("dota", "given"),
    "o_already_given": ("jau bija dota", "already given"),
    "o_withdrawn": ("atsaukta", "withdrawn"),
    "o_already_withdrawn": ("jau bija atsaukta", "already withdrawn"),
    "o_refused_not_lmt_client": ("atteikts: tikai LMT klientiem", "refused: LMT clients only"),
    "o_refused_not_independent": ("atteikts: nepilngadīga lietotāja numurs",
                                  "refused: a minor's line"),
    "o_unknown_command": ("nesaprasts teksts", "text not understood"),
    "o_superseded": ("aizstāta ar jaunāku", "superseded by a later change"),
    "o_lapsed": ("beigusies", "lapsed"),
    "o_reset": ("numurs nodots citam", "number handed over"),
    "o_erased": ("dzēsts", "erased"),
    "o_not_found": ("numurs nav atrasts", "number not found"),
    # errors a change can come back with (never free text from the URL)
    "e_invalid": ("Nederīga izvēle.", "Invalid choice."),
    "e_queue": ("Rinda (Redis) nepieņēma izmaiņu; mēģiniet vēlreiz.",
                "The queue (Redis) did not take the change; try again."),
    "e_guardian": ("Aizbildņa piekrišanu varēs reģistrēt ar nākamo krātuves versiju.",
                   "Guardian consent can be recorded with the next store release."),
    "e_at": ("Nederīgs laiks; piemērs: 2026-11-24T20:00:00Z.",
             "Not a valid time; e.g. 2026-11-24T20:00:00Z."),
}

ERRORS = frozenset(k[2:] for k in _T if k.startswith("e_"))


def translator(lang: str) -> dict[str, str]:
    i = 0 if lang != "en" else 1
    return {k: v[i] for k, v in _T.items()}
