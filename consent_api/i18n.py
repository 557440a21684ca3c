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
    "contact_channel": ("Kanāls", "Channel"),
    "agent_label": ("konsultants", "agent"),
    "guardian_label": ("aizbildņa vārdā", "by a guardian"),
    "contact_note": ("Piezīme", "Note"),
    "contact_saved": ("Saziņa reģistrēta (JAUNUMI termiņš sākas no jauna).",
                      "Contact recorded (JAUNUMI's inactivity period starts again)."),
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
    "o_left": ("beigusies: numurs vairs nav LMT", "lapsed: the number left LMT"),
    "o_erased": ("dzēsts", "erased"),
    "o_not_found": ("numurs nav atrasts", "number not found"),
    "o_help": ("palīdzība nosūtīta", "help sent"),
    "o_stop_info": ("STOP bez piekrišanas: nosūtīts, kas ir spēkā",
                    "STOP without a consent: told what is in force"),
    "o_none_in_force": ("STOP bez piekrišanas: nekas nav spēkā",
                        "STOP without a consent: nothing in force"),
    "o_confirm_asked": ("jautāts apstiprinājums (JĀ)", "asked to confirm (JĀ)"),
    "o_confirm_declined": ("apstiprinājums noraidīts (NĒ)", "confirmation declined (NĒ)"),
    "o_nothing_to_confirm": ("nav ko apstiprināt", "nothing to confirm"),
    "o_all_withdrawn": ("visas atsauktas", "all withdrawn"),
    "o_partly_withdrawn": ("daļa atsaukta, pārējās nebija spēkā",
                           "some withdrawn, the others were not in force"),
    "o_none_withdrawn": ("neviena nebija spēkā", "none was in force"),
    "o_explained": ("jautājums: nosūtīts skaidrojums", "a question: explained"),
    # actions, as the timeline shows them
    "a_give": ("dot", "give"),
    "a_withdraw": ("atsaukt", "withdraw"),
    "a_unknown": ("cits teksts", "other text"),
    "a_lapse": ("termiņa beigas", "lapse"),
    "a_reset": ("numura nodošana", "handover"),
    "a_erase": ("dzēšana", "erasure"),
    # channels
    "c_sms": ("īsziņa", "SMS"),
    "c_web": ("pašapkalpošanās", "self-service web"),
    "c_customer_centre": ("klientu centrs", "customer centre"),
    "c_operator": ("operators", "operator"),
    "c_system": ("sistēma", "system"),
    "c_call": ("zvans", "call"),
    "c_email": ("e-pasts", "e-mail"),
    # what became of a reply (consent_store.queries.reply_fate)
    "f_queued": ("rindā", "queued"),
    "f_accepted": ("SMSC pieņēma, piegāde nav apstiprināta", "accepted by the SMSC, not yet delivered"),
    "f_delivered": ("piegādāta", "delivered"),
    "f_failed": ("nav piegādāta", "not delivered"),
    "f_suppressed": ("netika sūtīta (atbilžu limits)", "not sent (reply limit)"),
    "delivery": ("Piegāde", "Delivery"),
    "told": ("Apraksts, ko redzēja", "Description shown"),
    "version": ("versija", "version"),
    "older": ("Vecāki ieraksti →", "Older entries →"),
    "newer": ("← Jaunāki ieraksti", "← Newer entries"),
    "page_of": ("Lapa {page} no {pages}", "Page {page} of {pages}"),
    "times_in": ("Laiki: {zone}", "Times: {zone}"),
    # errors a change can come back with (never free text from the URL)
    "e_invalid": ("Nederīga izvēle.", "Invalid choice."),
    "e_queue": ("Rinda (Redis) nepieņēma izmaiņu; mēģiniet vēlreiz.",
                "The queue (Redis) did not take the change; try again."),
    "e_guardian": ("Aizbildnis var rīkoties tikai par līniju, kas atzīmēta kā nepilngadīgā.",
                   "A guardian may act only for a line marked as a minor's."),
    "e_contact": ("Saziņu nevarēja reģistrēt (laiks nākotnē vai nederīgs kanāls).",
                  "The contact could not be recorded (a future time or an invalid channel)."),
    "e_at": ("Nederīgs laiks; piemērs: 2026-11-24T20:00:00Z.",
             "Not a valid time; e.g. 2026-11-24T20:00:00Z."),
    # the console's answer to an error of the whole request (problems.install)
    "e_unavailable": ("Datubāze vai Redis pašlaik neatbild; mēģiniet pēc brīža.",
                      "The database or Redis does not answer right now; try again shortly."),
    "e_not_found": ("Šādas lapas nav.", "There is no such page."),
    "e_request": ("Pieprasījumu nevar izpildīt.", "The request cannot be carried out."),
    "e_too_large": ("Forma ir pārāk liela.", "The form is too large."),
    "e_internal": ("Iekšēja kļūda; tā ir reģistrēta žurnālā.",
                   "Internal error; it is in the log."),
}

ERRORS = frozenset(k[2:] for k in _T if k.startswith("e_"))


def words(t: dict[str, str], prefix: str, code: str | None) -> str:
    """The words for ``code`` (an action, outcome, channel or reply fate); the code itself
    when it is one this table does not know yet (never an empty cell)."""
    if not code:
        return ""
    return t.get(prefix + code, code)


def translator(lang: str) -> dict[str, str]:
    i = 0 if lang != "en" else 1
    return {k: v[i] for k, v in _T.items()}
