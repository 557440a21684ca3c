"""The directory's outbox onto the shard queues: the consent changes a directory change
causes (a handover, the lapse of a number that left) are written with the directory rows
in one transaction (``directory_changes``), then queued here like every change of a number.

Queued before being marked, so a crash in between queues them again on the next drain;
the workers answer a repeated event id as a replay (the rows are named after it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from consent_queue.outcomes import ChangeQueue, directory_request

CHUNK = 1000


class Outbox(Protocol):
    def pending_directory_changes(self, limit: int = ...) -> list[Any]: ...

    def mark_directory_changes_queued(self, ids: list[int]) -> None: ...


def reason_for(row: Any) -> str:
    """The ledger reason of an outbox row's change: what happened and where it came from."""
    origin = f"directory sync {row.sync_id}" if row.sync_id is not None \
        else "directory update (PUT /v1/subscribers)"
    if row.kind == "handover":
        return f"handed over to a new holder ({origin})"
    return f"the number left LMT ({origin}); consent only for LMT clients"


def request_for(row: Any) -> dict[str, Any]:
    return directory_request(row.kind, row.event_id, row.msisdn, reason_for(row),
                             row.old_holder, row.new_holder)


def drain(outbox: Outbox, queue: ChangeQueue, chunk: int = CHUNK) -> int:
    """Queue every pending outbox row, oldest first; how many were queued."""
    total = 0
    while True:
        rows: Sequence[Any] = outbox.pending_directory_changes(chunk)
        if not rows:
            return total
        queue.submit_many([request_for(r) for r in rows])
        outbox.mark_directory_changes_queued([int(r.id) for r in rows])
        total += len(rows)
