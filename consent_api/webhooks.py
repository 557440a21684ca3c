"""``/v1/webhooks`` (admin): the webhook subscriptions, as ``consentctl webhook`` manages them.

Delivery is ``consent-webhooks run`` (docs/api.md, "Webhooks"); these endpoints only
change which URLs are pushed to and where their delivery stands.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from consent_api.api import Svc
from consent_api.auth import require
from consent_api.problems import Problem
from consent_store import webhooks
from consent_store.access import Token
from consent_store.errors import BadRequest, NotFound

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Admin = Annotated[Token, Depends(require("admin"))]
# A BIGINT column: a larger id names nothing and must be a 422, not a database error.
WebhookId = Annotated[int, Path(ge=1, le=2**63 - 1)]




class NewWebhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    secret: str | None = Field(None, description="whsec_ + base64; generated when absent "
                               "(then shown once in the answer)")
    consents: list[str] | None = Field(None, description="only these consents (default: all)")
    from_position: int | None = Field(None, alias="from", ge=0, le=2**63 - 1,
                                      description="feed position to start after "
                                                  "(default: the latest: changes from now on)")


class Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_position: int | None = Field(None, alias="from", ge=0, le=2**63 - 1,
                                      description="send again every change after this position")


def _invalid(exc: BadRequest) -> Problem:
    return Problem(422, "invalid", str(exc))


@router.get("", summary="Webhook subscriptions and how their delivery stands (admin)")
def list_webhooks(svc: Svc, _: Admin, all: bool = False) -> dict[str, Any]:
    subs = webhooks.subscriptions(svc.store.engine, include_removed=all)
    return {"webhooks": [s.to_dict() for s in subs]}


@router.post("", status_code=201, summary="Push every change (or some consents') to a URL (admin)")
async def add_webhook(body: NewWebhook, svc: Svc, _: Admin) -> JSONResponse:
    secret = body.secret or webhooks.new_secret()
    try:
        sub = await run_in_threadpool(webhooks.add, svc.store.engine, body.url, secret,
                                      body.consents, svc.clock(), body.from_position)
    except BadRequest as exc:
        raise _invalid(exc) from None
    # The secret is returned once, here; listings never show it.
    return JSONResponse({**sub.to_dict(), "secret": secret}, status_code=201,
                        headers={"Location": f"/v1/webhooks/{sub.id}"})


@router.get("/{webhook_id}", summary="One webhook subscription (admin)")
def get_webhook(webhook_id: WebhookId, svc: Svc, _: Admin) -> dict[str, Any]:
    try:
        return webhooks.get(svc.store.engine, webhook_id).to_dict()
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None


@router.delete("/{webhook_id}", summary="Stop pushing to a subscription (admin)")
def remove_webhook(webhook_id: WebhookId, svc: Svc, _: Admin) -> dict[str, Any]:
    try:
        return webhooks.remove(svc.store.engine, webhook_id, svc.clock()).to_dict()
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None


@router.post("/{webhook_id}/replay",
             summary="Resume a parked or failing subscription now; optionally from a position (admin)")
def replay_webhook(webhook_id: WebhookId, svc: Svc, _: Admin,
                   body: Replay | None = None) -> dict[str, Any]:
    try:
        start = None if body is None else body.from_position
        return webhooks.replay(svc.store.engine, webhook_id, start).to_dict()
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    except BadRequest as exc:
        raise _invalid(exc) from None
