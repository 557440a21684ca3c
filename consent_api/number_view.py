"""A number's timeline as the console shows it: one page of ledger rows, newest first, each
with the reply sent and what became of it, and the consent description the subscriber
was told (by version, with its text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consent_store import queries
from consent_store.store import ConsentStore


@dataclass(frozen=True, slots=True)
class Timeline:
    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int


def timeline(store: ConsentStore, msisdn: str, page: int, size: int) -> Timeline:
    """Page ``page`` (1 = newest) of ``size`` rows of the current holder's history."""
    entries = store.history(msisdn)
    total = len(entries)
    pages = max(1, -(-total // size))
    page = min(page, pages)
    newest_first = entries[::-1][(page - 1) * size: page * size]
    replies = {r["event_id"]: r for r in store.replies(msisdn)} if newest_first else {}
    digests = {e.description_digest for e in newest_first if e.description_digest}
    texts: dict[str, Any] = {}
    if digests:
        with store.engine.connect() as conn:
            texts = queries.descriptions(conn, digests)
    rows = []
    for e in newest_first:
        row = e.to_dict()
        reply = replies.get(e.event_id)
        row["reply"] = None if reply is None else {
            "text": reply["text"], "fate": reply["fate"],
            "delivery_status": reply["delivery_status"], "delivered_at": reply["delivered_at"],
            "submit_status": reply["submit_status"]}
        told = texts.get(e.description_digest or "")
        row["description"] = None if told is None else {
            "version": told.description_version, "lang": told.lang, "text": told.text}
        rows.append(row)
    return Timeline(rows, page, pages, total)
