"""The ``/v1`` endpoints: consents, changes through the queue, may-use, the changes feed."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from consent_api import changes, metrics
from consent_api.auth import has_scope, require
from consent_api.instants import Instant
from consent_api.problems import Problem
from consent_api.services import Services
from consent_core.model import CONSENTS
from consent_core.msisdn import TON_UNKNOWN, BadSender, canonical, normalise
from consent_queue.outcomes import reset_request
from consent_store import api_reads
from consent_store.access import Token
from consent_store.errors import BadRequest, NotFound
from consent_store.timeutil import as_utc, iso

router = APIRouter(prefix="/v1")

ConsentName = Literal["JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"]
# What the API takes, as patterns the OpenAPI document states (and FastAPI enforces, so
# that the document and the API cannot disagree). A number: international with + or 00,
# 10-15 bare international digits, or 8 Latvian national digits (consent_core.msisdn).
MSISDN_PATTERN = (r"^(\+[1-9][0-9]{6,14}|00[1-9][0-9]{6,14}|[1-9][0-9]{7}|"
                  r"[1-9][0-9]{9,14})$")
# A consent's name in any letter case (``vieta`` is VIETA).
CONSENT_PATTERN = "^(" + "|".join("".join(f"[{ch.upper()}{ch.lower()}]" for ch in name)
                                  for name in CONSENTS) + ")$"
CURSOR_PATTERN = r"^(latest|[0-9]{1,18})$"  # 18 digits: always within a 64-bit position
IDEMPOTENCY_KEY_PATTERN = r"^[\x20-\x7e]{1,200}$"
# The channels a caller of the API may name; ``sms`` changes come only from the gateway.
ApiChannel = Literal["web", "customer_centre", "operator"]
ContactChannel = Literal["call", "sms", "email", "web", "customer_centre"]
_Strict = ConfigDict(extra="forbid")


async def services(request: Request) -> Services:
    # async: a sync dependency costs a hop to the thread pool on every request.
    svc: Services = request.app.state.services
    return svc


def number(msisdn: str) -> str:
    """A number as a caller may write it (international, +, 00, or Latvian national)."""
    digits = canonical(msisdn)  # already as stored: the common case, checked cheaply
    if digits is not None:
        return digits
    found = normalise(msisdn, TON_UNKNOWN, 1)
    if isinstance(found, BadSender):
        raise Problem(422, "invalid", f"not a phone number: {msisdn!r} ({found.reason})",
                      field="msisdn")
    return found.digits


def consent_name(text: str) -> str:
    name = text.strip().upper()
    if name not in CONSENTS:
        raise Problem(422, "invalid", f"unknown consent {text!r}; one of {', '.join(CONSENTS)}",
                      field="consent")
    return name


def past(at: datetime | None, svc: Services) -> datetime | None:
    if at is None:
        return None
    try:
        at = as_utc(at)  # already UTC when it came through ``Instant``
    except OverflowError:
        raise Problem(422, "invalid", "at is not a representable instant", field="at") from None
    if at > svc.clock():
        raise Problem(422, "invalid", "at is in the future", field="at")
    return at


Svc = Annotated[Services, Depends(services)]
Reader = Annotated[Token, Depends(require("read"))]
Writer = Annotated[Token, Depends(require("write"))]
Admin = Annotated[Token, Depends(require("admin"))]
Msisdn = Annotated[str, Path(description="MSISDN: 3712…, +3712…, 003712… or 2… (Latvian)",
                             pattern=MSISDN_PATTERN, examples=["37129123456"])]
Consent = Annotated[str, Path(description="JAUNUMI, METADATI, AUTO, VIETA or SADARBIBA "
                              "(any letter case)", pattern=CONSENT_PATTERN)]
BodyMsisdn = Annotated[str, Field(pattern=MSISDN_PATTERN, examples=["37129123456"])]
BodyConsent = Annotated[str, Field(pattern=CONSENT_PATTERN, examples=["VIETA"])]


# --- reads ---------------------------------------------------------------------------

@router.get("/numbers/{msisdn}/consents", summary="The five consents of a number, now or at a past instant")
def get_consents(msisdn: Msisdn, svc: Svc, _: Reader,
                 at: Annotated[Instant | None, Query(description="ISO 8601, not in the future")] = None
                 ) -> dict[str, Any]:
    n = number(msisdn)
    try:
        data: dict[str, Any] = svc.store.state(n, at=past(at, svc)).to_dict()
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    return data


@router.get("/numbers/{msisdn}/history", summary="Every ledger event of a number, oldest first")
def get_history(msisdn: Msisdn, svc: Svc, token: Reader,
                all_holders: bool = False) -> dict[str, Any]:
    """The current holder's events (seed rule 6: after a handover the new holder is not
    shown the previous one's); ``all_holders=true`` is the operator's audit (admin)."""
    n = number(msisdn)
    if all_holders and not has_scope(token, "admin"):
        metrics.AUTH_FAILURES.labels(reason="scope").inc()
        raise Problem(403, "forbidden", "all_holders=true is an audit of earlier holders' "
                      "data and needs the admin scope", required_scope="admin")
    entries = svc.store.history(n, all_holders=all_holders)
    if not entries:
        raise Problem(404, "not-found", f"no recorded events for {n}")
    return {"msisdn": n, "events": [e.to_dict() for e in entries]}


@router.get("/numbers/{msisdn}/export", summary="Everything held about a number (GDPR Art. 15)")
def get_export(msisdn: Msisdn, svc: Svc, _: Reader) -> dict[str, Any]:
    try:
        data: dict[str, Any] = svc.store.export(number(msisdn),
                                                digest_dir=svc.settings.ledger.digest_dir)
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    return data


class MayUseAnswer(BaseModel):
    msisdn: str
    consent: str
    allowed: bool
    status: str
    since: str | None
    at: str | None = None


def _reader(svc: Services) -> Connection:
    """A connection for one read statement. PostgreSQL: autocommit, so no transaction and
    no ROLLBACK round trip when it goes back to the pool. (Not on SQLite: its engine runs
    its own BEGIN, which pysqlite's autocommit switch would undo for the next user.)"""
    conn = svc.store.engine.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


Query3 = tuple[str, str, datetime | None]  # msisdn, consent, at (None: now)


def _may_use(svc: Services, queries: list[Query3]) -> list[dict[str, Any]]:
    """The answers, read in the calling thread (a worker thread: blocking reads)."""
    now_pairs = [(m, c) for m, c, at in queries if at is None]
    with _reader(svc) as conn:
        found = api_reads.statuses(conn, now_pairs) if now_pairs else {}
    return _answers(svc, queries, found)


async def _may_use_async(svc: Services, queries: list[Query3]) -> list[dict[str, Any]]:
    """The answers: questions about now only, on PostgreSQL, awaited on the event loop
    (no thread); else (a past instant, SQLite) read in a worker thread."""
    if svc.reads is None or any(at is not None for _, _, at in queries):
        answers: list[dict[str, Any]] = await run_in_threadpool(_may_use, svc, queries)
        return answers
    found = await svc.reads.statuses([(m, c) for m, c, _ in queries])
    return _answers(svc, queries, found)


def _answers(svc: Services, queries: list[Query3], found: api_reads.Statuses
             ) -> list[dict[str, Any]]:
    out = []
    for m, c, at in queries:
        if at is None:
            status, since = found.get((m, c), ("none", None))
        else:
            try:
                st = svc.store.state(m, at=at).consents[c]
                status, since = st.status, st.since
            except NotFound:
                status, since = "none", None
        # Plain dicts: a 1,000-query answer is built without a model per row.
        out.append({"msisdn": m, "consent": c, "allowed": status == "given", "status": status,
                    "since": iso(since), "at": iso(at)})
    return out


def _json(data: Any) -> Response:
    # orjson: the standard library's encoder spent ~5 ms on a 1,000-result answer.
    return Response(orjson.dumps(data), media_type="application/json")


@router.get("/may-use", summary="May we use consent X of number N (now, or at an instant)?",
            response_model=MayUseAnswer)
async def may_use(svc: Svc, _: Reader,
            msisdn: Annotated[str, Query(pattern=MSISDN_PATTERN, examples=["37129123456"])],
            consent: Annotated[str, Query(pattern=CONSENT_PATTERN, examples=["VIETA"])],
            at: Annotated[Instant | None, Query(description="ISO 8601, not in the future")]
            = None) -> Response:
    query = (number(msisdn), consent_name(consent), past(at, svc))
    return _json((await _may_use_async(svc, [query]))[0])


class MayUseQuery(BaseModel):
    model_config = _Strict
    msisdn: BodyMsisdn
    consent: BodyConsent
    at: Instant | None = None


class MayUseBulk(BaseModel):
    model_config = _Strict
    queries: list[MayUseQuery]


class MayUseResults(BaseModel):
    results: list[MayUseAnswer]


@router.post("/may-use", summary="Many may-use questions in one call (api.bulk_max, 1,000 by default)",
             response_model=MayUseResults)
async def may_use_bulk(body: MayUseBulk, svc: Svc, _: Reader) -> Response:
    limit = svc.settings.api.bulk_max
    if len(body.queries) > limit:
        raise Problem(422, "too-many", f"{len(body.queries)} queries; at most {limit} per call",
                      limit=limit)
    queries = []
    for i, q in enumerate(body.queries):
        try:
            queries.append((number(q.msisdn), consent_name(q.consent), past(q.at, svc)))
        except Problem as exc:
            raise Problem(exc.status, exc.slug, f"queries[{i}]: {exc.detail}", index=i) from None
    return _json({"results": await _may_use_async(svc, queries)})


# --- changes -------------------------------------------------------------------------

class ChangeBody(BaseModel):
    model_config = _Strict
    action: Literal["give", "withdraw"]
    channel: ApiChannel
    at: Instant | None = Field(None, description="when the subscriber made it (back-dated "
                               "entry); not in the future")
    agent: str | None = Field(None, min_length=1, max_length=64)
    reference: str | None = Field(None, min_length=1, max_length=200)
    on_behalf: Literal["guardian"] | None = None
    reason: str | None = Field(None, min_length=1, max_length=500)


def _idempotency_key(value: str | None) -> str:
    if value is None:
        raise Problem(400, "bad-request", "the Idempotency-Key header is required "
                      "(any unique value per intended change, e.g. a UUID)")
    if not 1 <= len(value) <= 200 or not value.isprintable() or not value.isascii():
        raise Problem(400, "bad-request", "Idempotency-Key must be 1..200 printable ASCII characters")
    return value


def change_response(outcome: dict[str, Any] | None, event_id: str, *, replayed: bool = False
                    ) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if outcome is None:
        url = changes.status_url(event_id)
        return JSONResponse(changes.queued(event_id), status_code=202,
                            headers={**headers, "Location": url, "Retry-After": "1"})
    return JSONResponse(changes.answer(outcome), headers=headers)


@router.post("/numbers/{msisdn}/consents/{consent}",
             summary="Give or withdraw a consent (queued like a text; waits for the outcome)",
             responses={202: {"description": "queued; the worker has not answered in time"}})
async def post_change(msisdn: Msisdn, consent: Consent, body: ChangeBody, svc: Svc,
                      token: Writer,
                      idempotency_key: Annotated[str | None, Header(
                          description="required: one value per intended change (e.g. a "
                          "UUID); a repeat answers the first answer",
                          pattern=IDEMPOTENCY_KEY_PATTERN)] = None) -> JSONResponse:
    key = _idempotency_key(idempotency_key)
    change = changes.Change(number(msisdn), consent_name(consent), body.action, body.channel,
                            past(body.at, svc), body.agent, body.reference, body.on_behalf,
                            body.reason)
    event_id = changes.idempotent_event_id(token.token_id, key)
    request = changes.build_request(change, event_id, svc.clock(), f"api {token.name}")
    if not await run_in_threadpool(changes.reserve, svc, token.token_id, key,
                                   change.fingerprint(), event_id):
        metrics.REPLAYS.inc()
        first = await run_in_threadpool(changes.known_outcome, svc, event_id)
        return change_response(first or await changes.wait(svc, event_id), event_id,
                               replayed=True)
    try:
        outcome = await changes.submit_and_wait(svc, request)
    except Problem:
        await run_in_threadpool(changes.release, svc, token.token_id, key)
        raise
    return change_response(outcome, event_id)


@router.get("/events/{event_id}", summary="What became of a queued change (the 202 status URL)")
def get_event(event_id: Annotated[str, Path(max_length=200)], svc: Svc,
              _: Writer) -> JSONResponse:
    found = changes.known_outcome(svc, event_id)
    if found is not None:
        return JSONResponse(changes.answer(found))
    if svc.redis.exists(changes.submitted_key(svc, event_id)):
        return JSONResponse(changes.queued(event_id), headers={"Retry-After": "1"})
    raise Problem(404, "not-found", f"no change {event_id!r} was queued or recorded")


class ContactBody(BaseModel):
    model_config = _Strict
    channel: ContactChannel
    at: Instant | None = None
    note: str | None = Field(None, max_length=500)


@router.post("/numbers/{msisdn}/contacts", status_code=201,
             summary="Record a communication with the subscriber (lapse rule)")
def post_contact(msisdn: Msisdn, body: ContactBody, svc: Svc, _: Writer) -> JSONResponse:
    # A contact changes no consent, so it is written straight to the store (like
    # `consentctl contact`); it only moves JAUNUMI's inactivity clock (seed rule 4).
    try:
        row = svc.store.record_contact(number(msisdn), body.channel, past(body.at, svc), body.note)
    except BadRequest as exc:
        raise Problem(422, "invalid", str(exc)) from None
    return JSONResponse(row, status_code=201)


class ResetBody(BaseModel):
    model_config = _Strict
    reason: str = Field(min_length=1, max_length=500)
    channel: ApiChannel = "operator"


@router.post("/numbers/{msisdn}/reset",
             summary="Number handed to a new holder: withdraw everything (admin; queued)",
             responses={202: {"description": "queued; the worker has not answered in time"}})
async def post_reset(msisdn: Msisdn, body: ResetBody, svc: Svc, token: Admin) -> JSONResponse:
    n = number(msisdn)
    event_id = f"api-reset-{uuid.uuid4().hex}"
    reason = f"{body.reason.strip()} (api {token.name})"
    outcome = await changes.submit_and_wait(svc, reset_request(event_id, n, reason,
                                                                body.channel))
    if outcome is None:
        return change_response(None, event_id)
    if outcome["outcome"] == "not_found":
        raise Problem(404, "not-found", str(outcome.get("detail")))
    return JSONResponse({"state": "applied", "event_id": event_id, "msisdn": n,
                         "outcome": "reset", "withdrawn": outcome.get("withdrawn", []),
                         "events": outcome.get("events", [])})


# --- the changes feed ----------------------------------------------------------------

@router.get("/changes", summary="Every state change in ledger order; long-polls with wait")
async def get_changes(request: Request, svc: Svc, _: Reader,
                      after: Annotated[str, Query(description="cursor: a ledger position, "
                                                  "0 for the beginning, or 'latest'",
                                                  pattern=CURSOR_PATTERN)] = "0",
                      wait: Annotated[float, Query(ge=0, le=300, allow_inf_nan=False,
                                                   description="seconds to hold for a change "
                                                   "(at most api.changes_wait_max)")] = 0.0,
                      limit: Annotated[int | None, Query(ge=1, le=10000)] = None
                      ) -> dict[str, Any]:
    api = svc.settings.api
    if after == "latest":
        cursor = await run_in_threadpool(_latest, svc)
    else:
        cursor = int(after)  # the pattern admits only ASCII digits, at most 18 of them
    page_size = min(limit or api.changes_limit, api.changes_limit)
    deadline = time.monotonic() + min(wait, api.changes_wait_max)
    while True:
        page = await run_in_threadpool(_page, svc, cursor, page_size)
        if page.changes or time.monotonic() >= deadline or await request.is_disconnected():
            return {"changes": page.changes, "next": str(page.next)}
        cursor = page.next
        await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _latest(svc: Services) -> int:
    with svc.store.engine.connect() as conn:
        return api_reads.latest_position(conn)


def _page(svc: Services, after: int, limit: int) -> api_reads.ChangesPage:
    with svc.store.engine.connect() as conn:
        return api_reads.changes_after(conn, after, limit)
