"""A change from the API or the console: built as a ``ChangeRequest``, queued on the
number's shard like a text, and answered with the worker's outcome (or 202 if it is late).

A web or customer-centre change may carry a back-dated instant, guardian consent, the
agent, a reference and a note; ``PASS_THROUGH`` maps the API's field names to the
``ChangeRequest`` field that holds each (docs/api.md, "What a web or customer-centre
change carries").
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from fastapi.concurrency import run_in_threadpool

from consent_api import metrics
from consent_api.problems import Problem
from consent_api.services import Services
from consent_core.changes import ChangeRequest
from consent_store.errors import BadRequest

# API field -> ChangeRequest field: ``at`` is when the subscriber made the change (a paper
# form entered later), recorded beside the instant it was entered; ``reason`` is the note.
PASS_THROUGH = {"at": "effective_at", "on_behalf": "on_behalf", "agent": "agent",
                "reference": "reference", "reason": "note"}
assert set(PASS_THROUGH.values()) <= {f.name for f in dataclasses.fields(ChangeRequest)}


@dataclass(frozen=True, slots=True)
class Change:
    msisdn: str
    consent: str
    action: str  # give / withdraw
    channel: str
    at: datetime | None = None
    agent: str | None = None
    reference: str | None = None
    on_behalf: str | None = None
    reason: str | None = None

    def fingerprint(self) -> str:
        data = dataclasses.asdict(self)
        data["at"] = None if self.at is None else self.at.isoformat()
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def build_request(change: Change, event_id: str, now: datetime, via: str) -> ChangeRequest:
    """The ``ChangeRequest`` for ``change``; ``via`` names the caller (token or agent)."""
    extra: dict[str, Any] = {target: getattr(change, name)
                             for name, target in PASS_THROUGH.items()
                             if getattr(change, name) is not None}
    verb = "give" if change.action == "give" else "withdraw"
    text = f"{via}: {verb} {change.consent}"
    try:
        return ChangeRequest(event_id=event_id, msisdn=change.msisdn, action=change.action,
                             consent=change.consent, channel=change.channel, received_at=now,
                             text=text, correlation_id=event_id[:64], **extra)
    except BadRequest as exc:
        raise Problem(422, "invalid", str(exc)) from None


def answer(outcome: dict[str, Any]) -> dict[str, Any]:
    """The body of a change's answer; the same for the first call and every replay."""
    body = {"state": "applied", "event_id": outcome["event_id"], "msisdn": outcome["msisdn"],
            "consent": outcome["consent"], "outcome": outcome["outcome"]}
    if "withdrawn" in outcome:  # a reset
        body["withdrawn"] = outcome["withdrawn"]
    return body


def queued(event_id: str) -> dict[str, Any]:
    return {"state": "queued", "event_id": event_id, "status_url": status_url(event_id)}


def status_url(event_id: str) -> str:
    return f"/v1/events/{event_id}"


def submit(svc: Services, request: ChangeRequest | dict[str, Any]) -> str:
    """Queue ``request`` (a change, or a queued dict such as a reset); its event id."""
    data = request.to_dict() if isinstance(request, ChangeRequest) else request
    event_id = str(data["event_id"])
    try:
        svc.redis.set(submitted_key(svc, event_id), "1", ex=svc.settings.api.idempotency_ttl)
        svc.changes.submit(data)
    except redis.RedisError as exc:
        raise Problem(503, "unavailable", f"the queue (Redis) did not take the change: {exc}",
                      headers={"Retry-After": "5"}) from None
    return event_id


async def submit_and_wait(svc: Services, request: ChangeRequest | dict[str, Any]
                          ) -> dict[str, Any] | None:
    """Queue ``request`` and wait up to ``api.change_wait`` for the worker; the outcome, or
    None when it has not answered by then. The wait holds no thread of the pool that
    serves the reads."""
    if isinstance(request, ChangeRequest) and request.on_behalf == "guardian" and \
            not await run_in_threadpool(svc.store.guardian_may_act, request.msisdn):
        # Seed rule 5: a parent or guardian acts only for a line the directory marks as
        # not independent; anywhere else the subscriber speaks for themselves.
        raise Problem(422, "guardian-not-applicable",
                      f"{request.msisdn} is not marked as a line whose user cannot act "
                      "independently: a guardian cannot act for it", field="on_behalf")
    event_id = await run_in_threadpool(submit, svc, request)
    return await wait(svc, event_id)


async def wait(svc: Services, event_id: str) -> dict[str, Any] | None:
    try:
        found = await svc.changes.wait_async(event_id, svc.settings.api.change_wait)
    except redis.RedisError:
        found = None
    metrics.CHANGES.labels(result="applied" if found else "queued").inc()
    return found


def submitted_key(svc: Services, event_id: str) -> str:
    return f"{svc.keys.prefix}:api:submitted:{event_id}"


def known_outcome(svc: Services, event_id: str) -> dict[str, Any] | None:
    """The outcome of ``event_id`` from the worker's report, else from the ledger."""
    from consent_store import api_reads

    try:
        found = svc.changes.outcome(event_id)
    except redis.RedisError:
        found = None
    if found is not None:
        return found
    with svc.store.engine.connect() as conn:
        return api_reads.event(conn, event_id)


# --- Idempotency-Key ------------------------------------------------------------------

def idempotent_event_id(token_id: str, key: str) -> str:
    """The ledger event id of a keyed request: the same key of the same token is the same
    event, so even a lost key record cannot apply a change twice (the store replays)."""
    return "api-" + hashlib.sha256(f"{token_id}\0{key}".encode()).hexdigest()[:40]


def _idem_key(svc: Services, token_id: str, key: str) -> str:
    return f"{svc.keys.prefix}:api:idem:{token_id}:{hashlib.sha256(key.encode()).hexdigest()}"


def release(svc: Services, token_id: str, key: str) -> None:
    """Forget ``key`` again: its request was never queued (Redis refused it)."""
    try:
        svc.redis.delete(_idem_key(svc, token_id, key))
    except redis.RedisError:
        pass


def reserve(svc: Services, token_id: str, key: str, fingerprint: str, event_id: str) -> bool:
    """Record ``key`` for this request; False if it was used before with the same request.
    Raises 409 if it was used with another request."""
    rkey = _idem_key(svc, token_id, key)
    value = json.dumps({"fp": fingerprint, "event_id": event_id})
    try:
        if svc.redis.set(rkey, value, nx=True, ex=svc.settings.api.idempotency_ttl):
            return True
        raw = svc.redis.get(rkey)
    except redis.RedisError as exc:
        raise Problem(503, "unavailable", f"Redis: {exc}", headers={"Retry-After": "5"}) from None
    if raw is not None and json.loads(raw)["fp"] != fingerprint:
        raise Problem(409, "conflict", "this Idempotency-Key was first used with another "
                      "request; use a new key for a new request")
    return False
