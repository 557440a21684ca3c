"""The ledger's hash chain: every row carries a hash of its content and of the row before it
in the same number's chain, so a changed, removed or reordered row shows (docs/store.md,
"Hash chain").

One chain per number, not one for the whole ledger: a number's writers are already
serialised by its row locks, so chaining adds no contention between numbers (several
workers, batches of many numbers), and a number's export alone is enough to check its
chain. A row's personal fields enter its hash only through ``personal_digest``, a salted
SHA-256 of them; erasure blanks the fields and the salt and keeps the digest, so the chain
still verifies and the digest cannot be brute-forced back to the number.

The hash functions are pure; the migration that introduced the chain uses them too, so
``VERSION`` is part of every hash: a future change of the content bumps it, old rows keep
verifying with the rules of their version.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent_store.timeutil import iso

VERSION = 1
GENESIS = "0" * 64
# Fields that identify or describe the person: blanked by erasure, hashed only via the digest.
PERSONAL = ("msisdn", "text", "raw_hex", "data_coding", "smsc", "correlation_id",
            "reply_text", "note")
# Fields kept after erasure, hashed as they are.
KEPT = ("event_id", "consent", "action", "outcome", "channel", "received_at", "applied_at",
        "entered_at", "ingest_seq", "catalog_version", "description_version",
        "description_digest", "reason", "on_behalf", "agent", "reference")
CHAIN_COLUMNS = ("salt", "personal_digest", "chain_id", "chain_seq", "chain_prev", "chain_hash")
# Ledger columns added after version 1 go here, not into the lists above: they are hashed
# only when set, so every row written before they existed still verifies unchanged.
# 0012b_near_miss: what an SMS was understood as and by which rule (proof of what the
# subscriber meant), and which question a JĀ/NĒ answered; the question's text is personal.
KEPT_EXTENSIONS: tuple[str, ...] = ("understood", "match_rule", "confirms_event_id")
PERSONAL_EXTENSIONS: tuple[str, ...] = ("confirmed_text",)


def new_salt() -> str:
    return secrets.token_hex(16)


def new_chain_id() -> str:
    return secrets.token_hex(16)


def _default(v: Any) -> Any:
    # Called by json only for what it cannot write itself (instants, in practice).
    if isinstance(v, datetime):
        # The text the export shows (timeutil.iso), so a receipt's own fields recompute.
        return iso(v)
    return str(v)


def _digest(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"),
                      default=_default)
    return hashlib.sha256(text.encode()).hexdigest()


def personal_digest(row: Mapping[str, Any]) -> str:
    """Salted digest of the row's personal fields (``salt`` must be set)."""
    return _digest({"v": VERSION, "salt": row["salt"], **{k: row.get(k) for k in PERSONAL},
                    **_set(row, PERSONAL_EXTENSIONS)})


def row_hash(row: Mapping[str, Any]) -> str:
    """Hash of one row: its kept fields, its personal digest, its place in the chain."""
    return _digest({"v": VERSION, "personal": row["personal_digest"],
                    "chain": row["chain_id"], "seq": row["chain_seq"],
                    "prev": row["chain_prev"], **{k: row.get(k) for k in KEPT},
                    **_set(row, KEPT_EXTENSIONS)})


def _set(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: row[k] for k in names if row.get(k) is not None}


@dataclass(slots=True)
class Head:
    """Where a number's chain stands: its id, the last position and hash."""

    key: str
    chain_id: str
    seq: int
    hash: str
    dirty: bool = False


def seal(row: dict[str, Any], head: Head) -> None:
    """Fill in the chain columns of ``row`` as the next row after ``head``; move the head."""
    row["salt"] = new_salt()
    row["personal_digest"] = personal_digest(row)
    row["chain_id"] = head.chain_id
    row["chain_seq"] = head.seq + 1
    row["chain_prev"] = head.hash
    row["chain_hash"] = row_hash(row)
    head.seq, head.hash, head.dirty = head.seq + 1, row["chain_hash"], True


@dataclass(frozen=True, slots=True)
class Break:
    """The first row of a chain that does not verify, and why."""

    chain_id: str
    event_id: str | None
    chain_seq: int | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "event_id": self.event_id,
                "chain_seq": self.chain_seq, "problem": self.problem}


def verify_chain(chain_id: str, rows: Iterable[Mapping[str, Any]],
                 head: Mapping[str, Any] | None) -> Break | None:
    """Check one chain's rows (ordered by ``chain_seq``) and its head (None: the chain was
    closed by an erasure, so it must end with the ``erase`` row)."""
    prev, expect_seq, last_id, last = GENESIS, 1, None, None
    for r in rows:
        seq, event_id = r["chain_seq"], r["event_id"]
        if seq != expect_seq:
            return Break(chain_id, event_id, seq,
                         f"expected position {expect_seq}, found {seq}: a row is missing "
                         "or was moved")
        if r["chain_prev"] != prev:
            return Break(chain_id, event_id, seq, "does not link to the row before it")
        if r["salt"] is None:
            # Erased: the personal fields are gone, only their digest remains.
            if any(r.get(k) is not None for k in (*PERSONAL, *PERSONAL_EXTENSIONS)
                   if k != "msisdn") \
                    or not str(r["msisdn"]).startswith("h:"):
                return Break(chain_id, event_id, seq, "erased row holds personal data again")
        elif personal_digest(r) != r["personal_digest"]:
            return Break(chain_id, event_id, seq, "content changed (personal fields)")
        if row_hash(r) != r["chain_hash"]:
            return Break(chain_id, event_id, seq, "content changed")
        if last_id is not None and r["id"] < last_id:
            return Break(chain_id, event_id, seq, "out of order: applied before the row "
                                                  "that precedes it in the chain")
        prev, expect_seq, last_id, last = r["chain_hash"], seq + 1, r["id"], r
    if head is None:
        if last is None or last["action"] != "erase":
            return Break(chain_id, None if last is None else last["event_id"],
                         None if last is None else last["chain_seq"],
                         "the chain has no head and does not end with an erasure: "
                         "rows after this one were removed")
        return None
    if last is None or head["seq"] != last["chain_seq"] or head["hash"] != last["chain_hash"]:
        return Break(chain_id, None if last is None else last["event_id"],
                     None if last is None else last["chain_seq"],
                     f"the head says {head['seq']} rows; rows at the end were removed "
                     "or changed")
    return None
