"""Applying change requests: the ledger append and the state update, in one transaction.

This is the only code that turns requests into outcomes in the store; ``decide`` from
the core computes each outcome, this module supplies its inputs (current status,
eligibility against the directory) and records the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, func, select

from consent_core.arrival import Stamp, latest, superseded_answer
from consent_core.catalog import Catalog
from consent_core.decide import (
    DEFAULT_CONFIRM_WINDOW,
    decide,
    decide_text,
    status_after,
    withdrawals_answer,
)
from consent_core.eligibility import Subscriber, eligibility
from consent_core.model import IN_FORCE, REPLIED, Eligibility, Outcome, Status
from consent_core.understand import Intent, Matcher, Reading, Rule
from consent_store import chain, feed
from consent_store.dialect import among_keys, insert_ignore, upsert_many
from consent_store.requests import AppliedChange, ChangeRequest
from consent_store.schema import (
    consent_descriptions,
    consent_events,
    consent_state,
    ledger_heads,
    replies,
    subscribers,
)
from consent_store.timeutil import iso

JAUNUMI = "JAUNUMI"
# Every ledger column a writer sets (the rest are filled by the chain).
EVENT_FIELDS = ("event_id", "msisdn", "consent", "action", "outcome", "channel",
                "received_at", "applied_at", "ingest_seq", "text", "raw_hex", "data_coding",
                "smsc", "correlation_id", "catalog_version", "description_version",
                "reply_text", "reason", "entered_at", "on_behalf", "agent", "reference",
                "note", "description_digest", "understood", "match_rule",
                "confirms_event_id", "confirmed_text")
# Outcomes by which the subscriber (or the system) settled a consent at an instant: a
# back-dated entry from before one of them does not override it.
_SETTLING = frozenset({"given", "already_given", "withdrawn", "already_withdrawn", "reset",
                       "lapsed", "left"})


@dataclass(slots=True)
class StateRow:
    """consent_state row being worked on inside a transaction."""

    msisdn: str
    consent: str
    status: Status
    since: datetime | None
    channel: str | None
    last_event_id: str | None
    last_seq: int | None
    last_activity_at: datetime | None
    last_at: datetime | None = None  # arrival of the newest change applied (with last_seq)
    dirty: bool = False

    @property
    def stamp(self) -> Stamp | None:
        """Where the newest change applied to this consent stands in the number's order."""
        if self.last_at is None and self.last_seq is None:
            return None
        return Stamp(self.last_at, self.last_seq)

    def advance(self, stamp: Stamp) -> None:
        """A change stamped ``stamp`` was applied (its outcome whatever it was)."""
        new = latest(self.stamp, stamp)
        if (new.at, new.seq) != (self.last_at, self.last_seq):
            self.last_at, self.last_seq = new.at, new.seq
            self.dirty = True

    def columns(self) -> dict[str, Any]:
        return {
            "msisdn": self.msisdn, "consent": self.consent, "status": self.status.value,
            "since": self.since, "channel": self.channel, "last_event_id": self.last_event_id,
            "last_seq": self.last_seq, "last_activity_at": self.last_activity_at,
            "last_at": self.last_at,
        }


def lock_states(conn: Connection, keys: set[tuple[str, str]],
                numbers: set[str] | None = None) -> dict[tuple[str, str], StateRow]:
    """Lock (PostgreSQL: FOR UPDATE) and return every state row of the numbers of ``keys``
    (and of ``numbers``), creating ``none`` rows for missing keys first, so that concurrent
    writers of the same number and consent queue up behind one row lock instead of racing."""
    every = sorted({m for m, _ in keys} | (numbers or set()))
    if not every:
        return {}
    found = _select_states(conn, every)
    missing = sorted(keys - found.keys())
    if missing:
        made = insert_ignore(conn, consent_state, [
            {"msisdn": m, "consent": c, "status": Status.NONE.value} for m, c in missing],
            returning=True)
        for r in made or ():  # PostgreSQL: the rows just made (and so locked) come back
            found[(r.msisdn, r.consent)] = _state_row(r)
        # Elsewhere, or made by a concurrent writer since our select: read and lock them.
        late = {m for m, c in missing if (m, c) not in found}
        if late:
            for key, st in _select_states(conn, sorted(late)).items():
                found.setdefault(key, st)
    return found


def _select_states(conn: Connection, numbers: Sequence[str]) -> dict[tuple[str, str], StateRow]:
    stmt = _states_stmt(conn.dialect.name)
    return {(r.msisdn, r.consent): _state_row(r)
            for r in conn.execute(stmt, {"keys": list(numbers)})}


# The lookups every batch makes, built once per dialect (dialect.among_keys).
@lru_cache(maxsize=4)
def _states_stmt(dialect: str) -> Any:
    return (select(consent_state).where(among_keys(dialect, consent_state.c.msisdn))
            .order_by(consent_state.c.msisdn, consent_state.c.consent).with_for_update())


@lru_cache(maxsize=4)
def _heads_stmt(dialect: str) -> Any:
    return (select(ledger_heads).where(among_keys(dialect, ledger_heads.c.msisdn))
            .order_by(ledger_heads.c.msisdn).with_for_update())


@lru_cache(maxsize=4)
def _known_stmt(dialect: str) -> Any:
    return (select(consent_events.c.event_id, consent_events.c.msisdn,
                   consent_events.c.consent, consent_events.c.outcome,
                   consent_events.c.reply_text, consent_events.c.reason)
            .where(among_keys(dialect, consent_events.c.event_id)))


@lru_cache(maxsize=4)
def _subscribers_stmt(dialect: str) -> Any:
    return select(subscribers).where(among_keys(dialect, subscribers.c.msisdn))


def _state_row(r: Any) -> StateRow:
    return StateRow(r.msisdn, r.consent, Status(r.status), r.since, r.channel,
                    r.last_event_id, r.last_seq, r.last_activity_at, r.last_at)


def write_states(conn: Connection, rows: Sequence[StateRow]) -> None:
    """Write the changed state rows back (they exist and are locked) as one upsert batch."""
    upsert_many(conn, consent_state, [r.columns() for r in rows if r.dirty],
                ["msisdn", "consent"])


def states_write(rows: Sequence[StateRow]) -> feed.Write:
    """``write_states`` as a write to go with the ledger insert (``append_events``)."""
    return feed.Write(consent_state, [r.columns() for r in rows if r.dirty], ("msisdn", "consent"))


def append_events(conn: Connection, rows: Sequence[dict[str, Any]],
                  chain_of: dict[str, str] | None = None, *,
                  before: Sequence[feed.Write] = (), after: Sequence[feed.Write] = ()) -> None:
    """Append ledger rows, each sealed into its number's hash chain (consent_store/chain.py)
    and placed at the next feed positions (consent_store/feed.py). Every transaction that
    appends to the ledger does it here, as late as it can: from the insert to the commit
    every other writer of the ledger waits for this one.

    ``chain_of`` maps a row's ``msisdn`` to the chain it continues when that is another
    key (erasure: the erase row, under the pseudonym, closes the number's chain).
    ``before`` and ``after``: the transaction's other last writes (e.g. ``states_write``;
    rows referring to the ledger's go ``after``), on PostgreSQL in the same statement.
    """
    full: list[dict[str, Any]] = []
    head_rows: list[dict[str, Any]] = []
    if rows:
        chain_of = chain_of or {}
        full = [dict.fromkeys(EVENT_FIELDS) | dict(r) for r in rows]
        keys = [str(chain_of.get(r["msisdn"], r["msisdn"])) for r in full]
        heads = lock_heads(conn, set(keys))
        for r, key in zip(full, keys, strict=True):
            chain.seal(r, heads[key])
        head_rows = [{"msisdn": h.key, "chain_id": h.chain_id, "seq": h.seq, "hash": h.hash}
                     for h in heads.values() if h.dirty]
    feed.insert_ledger(conn, full, before=[*before, feed.Write(ledger_heads, head_rows, ("msisdn",))],
                       after=after)


def lock_heads(conn: Connection, keys: set[str]) -> dict[str, chain.Head]:
    """Lock and return the chain heads of ``keys``, starting a chain for each new one."""
    found = _select_heads(conn, keys)
    missing = sorted(keys - found.keys())
    if missing:
        made = insert_ignore(conn, ledger_heads, [
            {"msisdn": k, "chain_id": chain.new_chain_id(), "seq": 0, "hash": chain.GENESIS}
            for k in missing], returning=True)
        found.update({r.msisdn: _head(r) for r in made or ()})
        late = set(missing) - found.keys()
        if late:
            found.update(_select_heads(conn, late))
    return found


def _select_heads(conn: Connection, keys: set[str]) -> dict[str, chain.Head]:
    return {r.msisdn: _head(r)
            for r in conn.execute(_heads_stmt(conn.dialect.name), {"keys": sorted(keys)})}


def _head(r: Any) -> chain.Head:
    return chain.Head(r.msisdn, r.chain_id, int(r.seq), r.hash)


def apply_in_transaction(conn: Connection, requests: Sequence[ChangeRequest], *,
                         catalog: Catalog, lang: str, now: datetime,
                         pseudonym: Callable[[str], str] | None = None,
                         confirm_window: timedelta = DEFAULT_CONFIRM_WINDOW,
                         stored_digests: Set[str] = frozenset(),
                         wrote_digests: set[str] | None = None,
                         ) -> list[AppliedChange]:
    """Apply ``requests`` in order on ``conn`` (inside a write transaction). ``pseudonym``
    names a number's erased rows (a back-dated entry must see an erasure after it).
    ``stored_digests``: descriptions known to be in ``consent_descriptions`` already (a
    committed transaction wrote them; rows there are never deleted), not written again;
    the digests this transaction writes are added to ``wrote_digests``, for the caller to
    add to its set once the transaction has committed."""
    # Texts the gateway did not read as an exact command are read here, at apply time:
    # what they do depends on the number's state (a bare STOP, a JĀ answering a near miss).
    readings = _read_texts(requests, catalog)
    keys = {(r.msisdn, r.consent) for r in requests if r.consent is not None}
    keys |= _text_keys(requests, readings, catalog)
    states = lock_states(conn, keys, {r.msisdn for r in requests})
    # Looked up after the state locks: a concurrent writer of the same event (and so the
    # same number and consent) has committed by now, and we see it as a replay.
    known = _known_events(conn, [r.event_id for r in requests])
    directory = _subscribers(conn, sorted({r.msisdn for r in requests}))
    # This batch's text rows per number, for a JĀ/NĒ looking for the text it answers.
    batch_sms: dict[str, list[dict[str, Any]]] = {}
    catalog_version = _catalog_version(catalog)

    results: list[AppliedChange] = []
    events: list[dict[str, Any]] = []
    reply_rows: list[dict[str, Any]] = []
    described: dict[str, dict[str, Any]] = {}
    settled: dict[tuple[str, str], datetime] = {}  # this batch's settling instants

    def record(req: ChangeRequest, outcome: Outcome, reply: str | None,
               **extra: Any) -> dict[str, Any]:
        row = {
            "event_id": req.event_id, "msisdn": req.msisdn, "consent": req.consent,
            "action": req.action, "outcome": outcome.value, "channel": req.channel,
            "received_at": req.happened_at, "applied_at": now, "ingest_seq": req.ingest_seq,
            "text": req.text, "raw_hex": req.raw_hex, "data_coding": req.data_coding,
            "smsc": dict(req.smsc) or None, "correlation_id": req.correlation_id,
            "catalog_version": catalog_version,
            "description_version": _description_version(catalog, req.consent),
            "reply_text": reply, "reason": None, "understood": None, "match_rule": None,
            "confirms_event_id": None, "confirmed_text": None,
            "entered_at": None if req.effective_at is None else req.received_at,
            "on_behalf": req.on_behalf, "agent": req.agent, "reference": req.reference,
            "note": req.note, "description_digest": _describe(catalog, req.consent, lang,
                                                               described),
            **extra,
        }
        events.append(row)
        if reply:
            reply_rows.append({"event_id": req.event_id, "msisdn": req.msisdn, "text": reply,
                               "created_at": now, "submit_status": "pending"})
        if req.channel == "sms":
            batch_sms.setdefault(req.msisdn, []).append(row)
        return row

    for req in requests:
        first = known.get(req.event_id)
        if first is not None:
            results.append(AppliedChange(first.event_id, first.msisdn, first.consent,
                                         first.outcome, replayed=True,
                                         reply_text=first.reply_text))
            continue
        reading = readings.get(req.event_id)
        if reading is not None:
            asked = _text_before(conn, req, batch_sms.get(req.msisdn, ())) \
                if reading.intent in _ANSWERS else None
            applied = _apply_text(req, reading, states, directory.get(req.msisdn), catalog,
                                  lang, record, asked, confirm_window)
        else:
            reason = None
            if req.consent is None:
                outcome = Outcome.UNKNOWN_COMMAND
            else:
                st = states[(req.msisdn, req.consent)]
                reason = None if req.effective_at is None else _later_change(
                    conn, req, settled.get((req.msisdn, req.consent)),
                    [req.msisdn] if pseudonym is None else [req.msisdn, pseudonym(req.msisdn)])
                if reason is not None:
                    outcome = Outcome.SUPERSEDED
                else:
                    outcome = _apply_to_state(req, st, _eligibility(
                        directory.get(req.msisdn), req, catalog))
                if outcome.value in _SETTLING:
                    key = (req.msisdn, req.consent)
                    settled[key] = max(settled.get(key, req.happened_at), req.happened_at)
            # Only a text gets a text back; web and customer-centre changes answer there.
            reply = _reply(catalog, outcome, req.consent, lang, states, req.msisdn) \
                if req.channel == "sms" else None
            exact = {} if req.channel != "sms" or req.consent is None else {
                "understood": req.consent if req.action == "give" else f"{req.consent} STOP",
                "match_rule": Rule.EXACT.value}
            record(req, outcome, reply, reason=reason, **exact)
            applied = AppliedChange(req.event_id, req.msisdn, req.consent, outcome,
                                    reply_text=reply, reason=reason)
        # Every text from the number and every change through any channel is a
        # communication for the lapse rule (seed rule 4; docs/store.md, "Lapse").
        note_activity(states.get((req.msisdn, JAUNUMI)), req.happened_at)
        known[req.event_id] = applied  # the same id twice in one batch is a replay too
        results.append(applied)

    fresh = [row for digest, row in described.items() if digest not in stored_digests]
    insert_ignore(conn, consent_descriptions, fresh)
    if wrote_digests is not None:
        wrote_digests.update(row["digest"] for row in fresh)
    # The state rows, the ledger rows and their replies: on PostgreSQL one statement, the
    # feed's lock taken in it and held to commit.
    append_events(conn, events, before=[states_write(list(states.values()))],
                  after=[feed.Write(replies, reply_rows)])
    return results


def note_activity(st: StateRow | None, at: datetime) -> None:
    """A communication with the number at ``at``: restarts JAUNUMI's inactivity period."""
    if st is not None and (st.last_activity_at is None or at > st.last_activity_at):
        st.last_activity_at = at
        st.dirty = True


def _eligibility(sub: Subscriber | None, req: ChangeRequest, catalog: Catalog) -> Eligibility:
    assert req.consent is not None
    if req.on_behalf == "guardian" and sub is not None and not sub.independent:
        # A parent or guardian, identified at a customer centre, acts for the minor's line
        # (seed rule 5): independence is theirs; the client group still applies.
        sub = Subscriber(sub.msisdn, sub.client_group, independent=True)
    return eligibility(sub, req.consent, catalog)


def _later_change(conn: Connection, req: ChangeRequest, in_batch: datetime | None,
                  numbers: list[str]) -> str | None:
    """Why a back-dated entry must not be applied (a later change of the same consent, a
    later reset or erasure of the number), or None."""
    at = req.happened_at
    found = conn.execute(
        select(consent_events.c.action, consent_events.c.consent,
               func.max(consent_events.c.received_at).label("at"))
        .where(consent_events.c.msisdn.in_(numbers), consent_events.c.received_at > at,
               ((consent_events.c.consent == req.consent)
                & consent_events.c.outcome.in_(sorted(_SETTLING)))
               | consent_events.c.action.in_(["reset", "erase"]))
        .group_by(consent_events.c.action, consent_events.c.consent)).all()
    later = [(r.at, r.action) for r in found]
    if in_batch is not None and in_batch > at:
        later.append((in_batch, "change"))
    if not later:
        return None
    when, action = max(later)
    what = {"reset": "the number was handed to a new holder",
            "erase": "the number's data was erased"}.get(
        action, f"a later change of {req.consent} was recorded")
    return f"back-dated to {iso(at)}; {what} at {iso(when)}"


def _describe(catalog: Catalog, consent: str | None, lang: str,
              out: dict[str, dict[str, Any]]) -> str | None:
    """Digest of the description shown for ``consent`` in ``lang``; the text goes to
    ``consent_descriptions`` (the ledger row cites it by digest)."""
    entry = None if consent is None else catalog.consents.get(consent)
    if entry is None or consent is None:
        return None
    text = entry.description.get(lang) or next(iter(entry.description.values()), "")
    digest = hashlib.sha256(text.encode()).hexdigest()
    out[digest] = {"digest": digest, "consent": consent,
                   "description_version": entry.description_version, "lang": lang,
                   "text": text}
    return digest


# --- texts read at apply time (consent_core.understand, docs/commands.md) ----------------

# Readings whose answer depends on the number's last text (a near-miss give waiting).
_ANSWERS = frozenset({Intent.YES, Intent.NO})
# Readings that need every consent of the number (what is in force; a JĀ's consent).
_WHOLE_NUMBER = frozenset({Intent.STOP_INFO, Intent.STOP_ALL, Intent.YES, Intent.NO})
_matchers: dict[int, tuple[Catalog, Matcher]] = {}


def _matcher(catalog: Catalog) -> Matcher:
    held = _matchers.get(id(catalog))
    if held is None or held[0] is not catalog:
        held = (catalog, Matcher.for_catalog(catalog))
        _matchers.clear()  # one catalog in use at a time (a reload replaces it)
        _matchers[id(catalog)] = held
    return held[1]


def _read_texts(requests: Sequence[ChangeRequest], catalog: Catalog) -> dict[str, Reading]:
    matcher = _matcher(catalog)
    return {r.event_id: matcher.read(r.text) for r in requests
            if r.channel == "sms" and r.action == "unknown" and r.text is not None}


def _text_keys(requests: Sequence[ChangeRequest], readings: dict[str, Reading],
               catalog: Catalog) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for r in requests:
        reading = readings.get(r.event_id)
        if reading is None:
            continue
        if reading.intent in _WHOLE_NUMBER:
            keys |= {(r.msisdn, k) for k in catalog.keywords}
        else:
            keys |= {(r.msisdn, k) for k in reading.consents}
    return keys


def _text_before(conn: Connection, req: ChangeRequest,
                 in_batch: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The number's text that arrived last before ``req`` (a JĀ/NĒ), among those applied:
    a pending near-miss give is that text, outcome ``confirm_asked``; any text that arrived
    in between cancels it. By arrival, not by apply order (docs/store.md "Sequence guard")."""
    mine = _stamp(req)
    stmt = (select(consent_events.c.event_id, consent_events.c.consent,
                   consent_events.c.outcome, consent_events.c.received_at,
                   consent_events.c.ingest_seq, consent_events.c.text,
                   consent_events.c.match_rule)
            .where(consent_events.c.msisdn == req.msisdn, consent_events.c.channel == "sms",
                   consent_events.c.received_at <= req.received_at)
            .order_by(consent_events.c.received_at.desc(), consent_events.c.id.desc())
            .limit(8))
    found = [r._asdict() for r in conn.execute(stmt)] + list(in_batch)
    before = [r for r in found if r["event_id"] != req.event_id
              and Stamp(r["received_at"], r["ingest_seq"]).before(mine)]
    if not before:
        return None
    best = before[0]
    for r in before[1:]:
        if Stamp(best["received_at"], best["ingest_seq"]).before(
                Stamp(r["received_at"], r["ingest_seq"])):
            best = r
    return best


def _apply_text(req: ChangeRequest, reading: Reading, states: dict[tuple[str, str], StateRow],
                subscriber: Subscriber | None, catalog: Catalog, lang: str,
                record: Callable[..., dict[str, Any]], last: dict[str, Any] | None,
                window: timedelta) -> AppliedChange:
    """Record (and, when the plan says so, apply) one text the reader understood."""
    ask = None
    if (last is not None and last["outcome"] == Outcome.CONFIRM_ASKED.value
            and timedelta(0) <= req.received_at - last["received_at"] <= window):
        ask = last
    status = {k: states[(req.msisdn, k)].status for k in catalog.keywords
              if (req.msisdn, k) in states}
    elig = {k: eligibility(subscriber, k, catalog) for k in catalog.keywords}
    plan = decide_text(reading, status, elig, None if ask is None else ask["consent"])
    extra: dict[str, Any] = {"understood": reading.understood or None,
                             "match_rule": reading.rule}
    if ask is not None and reading.intent in _ANSWERS:
        extra.update(understood=ask["consent"] if reading.intent is Intent.YES else "NĒ",
                     match_rule=f"{reading.rule}+{ask['match_rule']}",
                     confirms_event_id=ask["event_id"], confirmed_text=ask["text"])
    if not plan.apply:
        assert plan.outcome is not None
        # A text that changes nothing names a consent only about a give (asked, refused,
        # already given, declined) or a question about one (explained, action unknown).
        row_req = req
        if plan.outcome is Outcome.EXPLAINED:  # the row names the consent asked about
            extra.update(consent=plan.consent,
                         description_version=_description_version(catalog, plan.consent))
        elif plan.consent:
            row_req = replace(req, action="give", consent=plan.consent)
        answer = catalog.reply(plan.outcome, plan.consent, lang, plan.listed)
        record(row_req, plan.outcome, answer, **extra)
        return AppliedChange(req.event_id, req.msisdn, plan.consent, plan.outcome,
                             reply_text=answer)
    done: list[tuple[ChangeRequest, Outcome]] = []
    for n, (action, consent) in enumerate(plan.apply):
        event_id = req.event_id if n == 0 else f"{req.event_id[:180]}/{consent}"
        sub = replace(req, event_id=event_id, action=action, consent=consent)
        done.append((sub, _apply_to_state(sub, states[(req.msisdn, consent)],
                                          elig.get(consent, Eligibility.ALLOWED))))
    first, outcome = done[0]
    reply: str | None
    if plan.reply is None:
        reply = _reply(catalog, outcome, first.consent, lang, states, req.msisdn)
    elif all(o is Outcome.SUPERSEDED for _, o in done):
        # Every consent it named had a later word: told what is in force.
        reply = _reply(catalog, Outcome.SUPERSEDED, None, lang, states, req.msisdn)
    else:  # VISS STOP, or several consents named: one reply saying what happened to each
        # A consent a later word decided is left out: it is not "not in force".
        several = withdrawals_answer(tuple((r.consent, o) for r, o in done
                                           if r.consent and o is not Outcome.SUPERSEDED),
                                     everything=reading.intent is Intent.STOP_ALL)
        reply = catalog.reply(several.outcome, None, lang, several.consents, several.others)
    for n, (sub, o) in enumerate(done):
        record(sub, o, reply if n == 0 else None, **extra)
    return AppliedChange(req.event_id, req.msisdn, first.consent, outcome, reply_text=reply)


def _stamp(req: ChangeRequest) -> Stamp:
    """Where ``req`` stands in its number's order: when it arrived (a text: at a gateway;
    another channel's change: when it was taken), ties broken by the ingest sequence."""
    return Stamp(req.received_at, req.ingest_seq)


def _apply_to_state(req: ChangeRequest, st: StateRow, elig: Eligibility) -> Outcome:
    # Sequence guard: a change that arrived before the newest one already applied to this
    # consent came late and must not undo it, whatever the order they were applied in
    # (consent_core.arrival). A back-dated entry has its own rule (_later_change).
    stamp = _stamp(req)
    if req.effective_at is None and stamp.before(st.stamp):
        return Outcome.SUPERSEDED
    outcome = decide(st.status, req.action, elig)
    after = status_after(st.status, outcome)
    if after is not st.status:
        st.status, st.since, st.channel = after, req.happened_at, req.channel
        st.last_event_id = req.event_id
        st.dirty = True
    # Refused and "already" outcomes advance it too: a late VIETA must not undo a newer
    # VIETA STOP even when that STOP changed nothing.
    st.advance(stamp if req.effective_at is None else Stamp(req.happened_at))
    return outcome


def _known_events(conn: Connection, event_ids: list[str]) -> dict[str, AppliedChange]:
    rows = conn.execute(_known_stmt(conn.dialect.name), {"keys": sorted(set(event_ids))})
    return {r.event_id: AppliedChange(r.event_id, r.msisdn, r.consent, Outcome(r.outcome),
                                      replayed=True, reply_text=r.reply_text, reason=r.reason)
            for r in rows}


def _subscribers(conn: Connection, numbers: list[str]) -> dict[str, Subscriber]:
    return {r.msisdn: Subscriber(msisdn=r.msisdn, client_group=r.client_group,
                                 independent=bool(r.independent))
            for r in conn.execute(_subscribers_stmt(conn.dialect.name), {"keys": list(numbers)})}


# --- the catalog, as far as the ledger needs it -------------------------------------

def _catalog_version(catalog: Catalog) -> str:
    return catalog.version


def _description_version(catalog: Catalog, consent: str | None) -> str | None:
    entry = None if consent is None else catalog.consents.get(consent)
    return None if entry is None else entry.description_version


def _reply(catalog: Catalog, outcome: Outcome, consent: str | None, lang: str,
           states: dict[tuple[str, str], StateRow], msisdn: str) -> str | None:
    """The answer to a text with ``outcome``. A text that came too late (superseded) is
    told what is in force now; lapsed and reset are never answered (model.REPLIED)."""
    if outcome is Outcome.SUPERSEDED:
        answer, listed = superseded_answer(
            k for k in catalog.keywords
            if (msisdn, k) in states and states[(msisdn, k)].status in IN_FORCE)
        return catalog.reply(answer, None, lang, listed)
    return catalog.reply(outcome, consent, lang) if outcome in REPLIED else None
