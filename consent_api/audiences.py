"""``GET /v1/audiences/{consent}``: every number with the consent in force, streamed.

NDJSON by default (one ``{"msisdn", "since", "position"}`` per line), CSV with
``Accept: text/csv``; the feed position the list is consistent with is on every row and
in the ``Feed-Position`` header, so a campaign tool follows ``/v1/changes`` from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from consent_api.api import Consent, Reader, Svc, consent_name, past
from consent_api.instants import Instant
from consent_store.audience import Audience, Format, open_audience

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])


def _format(request: Request) -> Format:
    accept = request.headers.get("accept", "")
    return "csv" if "text/csv" in accept else "ndjson"


@router.get("/{consent}", summary="Every number with the consent in force (now or at an "
            "instant), streamed as NDJSON or CSV, with the feed position it is consistent with",
            responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}})
async def get_audience(request: Request, svc: Svc, _: Reader,
                       consent: Consent,
                       at: Annotated[Instant | None, Query(description="ISO 8601; "
                                                           "default now")] = None
                       ) -> StreamingResponse:
    name, when, fmt = consent_name(consent), past(at, svc), _format(request)
    audience: Audience = await run_in_threadpool(open_audience, svc.store.engine, name, when)
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"

    def body() -> Iterator[bytes]:
        yield from audience.lines(fmt)

    return StreamingResponse(body(), media_type=media,
                             headers={"Feed-Position": str(audience.position),
                                      "Cache-Control": "no-store"})
