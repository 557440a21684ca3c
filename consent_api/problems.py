"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``type``.

The ``type`` URIs are names, not pages: ``urn:lmt-consent:problem:<slug>``; clients switch
on them, never on ``title`` or ``detail`` (docs/api.md lists every slug).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:lmt-consent:problem:"

_TITLES = {
    "bad-request": "The request cannot be read",
    "invalid": "A field of the request is not valid",
    "unauthorized": "A valid bearer token is needed",
    "forbidden": "The token lacks the scope this needs",
    "not-found": "Nothing is held about this",
    "conflict": "The Idempotency-Key was used with another request",
    "rate-limited": "Too many requests for this token",
    "unavailable": "A part the API needs does not answer",
    "guardian-not-applicable": "A guardian may act only for a line marked not independent",
    "too-many": "Too many queries in one call",
    "method-not-allowed": "Method not allowed",
    "internal": "Internal error",
}


class Problem(Exception):
    def __init__(self, status: int, slug: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(request: Request, status: int, slug: str, detail: str,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_PREFIX + slug, "title": _TITLES.get(slug, slug), "status": status,
            "detail": detail, "instance": request.url.path, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.slug, exc.detail, exc.headers, **exc.extra)


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
              for e in exc.errors()]
    first = errors[0] if errors else {"where": "", "problem": "invalid"}
    return problem_response(request, 422, "invalid", f"{first['where']}: {first['problem']}",
                            errors=errors)


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized",
            403: "forbidden"}.get(exc.status_code, "bad-request")
    return problem_response(request, exc.status_code, slug, str(exc.detail),
                            dict(exc.headers or {}))
