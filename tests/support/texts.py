"""Texts as the gateway hands them to the queue, for tests that queue without a gateway."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from consent_core.changes import ChangeRequest
from consent_queue.events import QueuedText
from consent_queue.parts import HeldSet


def queued_text(msisdn: str, words: str | None, *, fingerprint: str | None = None,
                action: str = "unknown", consent: str | None = None,
                event_id: str | None = None, held: HeldSet | None = None,
                received_at: datetime | None = None) -> QueuedText:
    """A subscriber text as ``EventQueue.enqueue`` takes it (a fresh event id unless given;
    the fingerprint defaults to number and words)."""
    eid = event_id or uuid.uuid4().hex
    request = ChangeRequest(event_id=eid, msisdn=msisdn, action=action, consent=consent,
                            channel="sms", received_at=received_at or datetime.now(UTC),
                            text=words, correlation_id=eid[:16])
    return QueuedText(request=request, fingerprint=fingerprint or f"fp-{msisdn}-{words}",
                      held=held)
