"""``PUT /v1/subscribers/{msisdn}``: one directory row as LMT's customer systems know it,
the moment it changes (docs/store.md, "The directory"; docs/api.md).

The same rules as a whole-file sync, for one number: a new holder is a handover, a number
listed as another operator's client leaves LMT (its LMT-only consents are fulfilled). The
row is written at once; the consent changes it causes go to the number's shard queue like
every other change. The same body again changes nothing (idempotent).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from consent_api.api import number, services
from consent_api.auth import require
from consent_api.problems import Problem
from consent_api.services import Services
from consent_queue.directory_outbox import drain
from consent_store.access import Token
from consent_store.views import SubscriberRow

router = APIRouter(prefix="/v1")


class SubscriberBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_group: Literal["lmt", "other"]
    independent: bool = True
    holder: Annotated[str | None, Field(min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")] = None


@router.put("/subscribers/{msisdn}",
            summary="One directory row from LMT's customer systems (admin)",
            responses={503: {"description": "the row is written; its consent changes are "
                                            "queued by the next call (retry it)"}})
def put_subscriber(msisdn: str, body: SubscriberBody,
                   svc: Annotated[Services, Depends(services)],
                   _: Annotated[Token, Depends(require("admin"))]) -> dict[str, Any]:
    n = number(msisdn)
    row = SubscriberRow(n, body.client_group, body.independent, body.holder)
    changed, outbox = svc.store.put_subscriber(row)
    try:
        drain(svc.store, svc.changes)
    except redis.RedisError as exc:
        raise Problem(503, "unavailable", f"the directory row is written, but the queue "
                      f"(Redis) did not take its consent changes ({exc}); they are kept "
                      "and queued by the next call", headers={"Retry-After": "5"}) from None
    return {"msisdn": n, "changed": changed,
            "queued": [{"event_id": c["event_id"], "kind": c["kind"]} for c in outbox],
            "subscriber": svc.store.subscriber(n)}
