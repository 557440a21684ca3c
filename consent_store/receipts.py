"""Receipts a third party can check offline: a ledger event, its inclusion proof in the
Merkle log and the signed checkpoint the proof leads to (docs/store.md, "Receipts").

``attach`` adds a ``proof`` to every event of an export; ``check`` verifies one receipt or
every event of an export with nothing but the public key: the event's fields give its
chain hash (consent_store/chain.py), the chain hash is the leaf, the proof leads from the
leaf to the checkpoint's root, and the key signed the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, func, select

from consent_store import chain, digests, merkle
from consent_store.schema import consent_events


def attach(conn: Connection, export: dict[str, Any], directory: Path) -> dict[str, Any]:
    """``export`` with a ``proof`` on each history event: its leaf index, the inclusion
    proof to the latest checkpoint in ``directory`` and that checkpoint; ``None`` for an
    event the latest checkpoint does not cover yet (``ledger`` then says so)."""
    found = digests.checkpoints(directory) if directory.is_dir() else []
    if not found:
        export["ledger"] = {"checkpoint": None,
                            "note": "no checkpoint published yet: no event is covered"}
        for event in export.get("history", []):
            event["proof"] = None
        return export
    cp = found[-1]
    data = b"".join(digests.leaves_file(directory, c.tree_size).read_bytes() for c in found)
    # The leaves as the checkpoints signed them (a file changed since gives proofs that
    # fail against the signed root, which is what a checker must see).
    tree = merkle.Levels(merkle.leaf_hash(data[i:i + merkle.HASH_SIZE])
                         for i in range(0, len(data), merkle.HASH_SIZE))
    uncovered = 0
    for event in export.get("history", []):
        position = event.get("position")
        if position is None or position > cp.last_position:
            event["proof"] = None
            uncovered += 1
            continue
        index = int(conn.execute(select(func.count()).select_from(consent_events)
                                 .where(consent_events.c.position < position)).scalar() or 0)
        event["proof"] = {
            "leaf_index": index, "tree_size": cp.tree_size,
            "inclusion": [h.hex() for h in tree.inclusion_proof(index, cp.tree_size)],
            "checkpoint": cp.summary()}
    export["ledger"] = {"checkpoint": cp.summary(), "not_yet_covered": uncovered,
                        "rules": "docs/store.md#receipts"}
    return export


def chain_hash(event: Mapping[str, Any]) -> tuple[str | None, str]:
    """(problem or None, the chain hash recomputed from an exported event's fields)."""
    c = event.get("chain") or {}
    fields = {**event, "salt": c.get("salt"), "personal_digest": c.get("personal_digest"),
              "chain_id": c.get("id"), "chain_seq": c.get("seq"), "chain_prev": c.get("prev")}
    if fields["salt"] is not None and chain.personal_digest(fields) != c.get("personal_digest"):
        return "its personal fields do not give its personal digest", ""
    computed = chain.row_hash(fields)
    if computed != c.get("hash"):
        return "its fields do not give its chain hash", computed
    return None, computed


def check_event(event: Mapping[str, Any], keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when ``event`` (an exported ledger event with its ``proof``) verifies; else why
    not. Uses nothing but the event and the public keys."""
    proof = event.get("proof")
    if not proof:
        # Never passed over: a proof taken off a changed event must not make it pass.
        return ("carries no proof: not yet covered by a checkpoint when exported (export "
                "again after the next one), or the proof was removed")
    problem, computed = chain_hash(event)
    if problem is not None:
        return problem
    try:
        cp = digests.Checkpoint.from_dict(proof["checkpoint"])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(h) for h in proof["inclusion"]]
    except (digests.DigestError, KeyError, TypeError, ValueError) as exc:
        return f"malformed proof: {exc}"
    why = cp.verify_signature(keys)
    if why is not None:
        return f"checkpoint {cp.tree_size}: {why}"
    if size != cp.tree_size:
        return f"the proof is for a tree of {size}, the checkpoint for {cp.tree_size}"
    if not merkle.verify_inclusion(merkle.leaf_hash(bytes.fromhex(computed)), index, size,
                                   path, cp.root_hash):
        return (f"the inclusion proof of leaf {index} does not lead to the root of "
                f"checkpoint {cp.tree_size}")
    return None


def check(document: Mapping[str, Any], keys: dict[str, Ed25519PublicKey]
          ) -> list[tuple[str, str | None]]:
    """(event id, problem or None) for one receipt (an event with its proof) or for every
    event of an export (``history``)."""
    events = document["history"] if "history" in document else [document]
    return [(str(e.get("event_id")), check_event(e, keys)) for e in events]
