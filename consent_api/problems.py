"""Errors as ``application/problem+json`` (RFC 9457), each with a stable ``type``: the one
place every error of the application becomes an answer (``install``).

The ``type`` URIs are names, not pages: ``urn:lmt-consent:problem:<slug>``; clients switch
on them, never on ``title`` or ``detail`` (docs/api.md lists every slug). Redis or the
database not answering is a 503 with ``Retry-After``, never a 500; a bug is a 500 whose
body says only that (the traceback goes to the log). Under ``/console`` the same errors
are answered as the console's HTML page, through the renderer ``install`` is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from consent_store.errors import StoreUnavailable

log = structlog.get_logger("api")
# Seconds a client is asked to wait after a 503: Redis and PostgreSQL failovers take a few
# seconds (docs/operations.md); a shorter hint would only add load while they do.
RETRY_AFTER_UNAVAILABLE = "5"
# (request, status, slug, detail) -> the console's page for an error.
HtmlRenderer = Callable[[Request, int, str, str], Response]

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
    "not-acceptable": "The request's media type is not one this takes",
    "too-large": "The request body is larger than the API takes",
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


def from_validation(exc: RequestValidationError) -> Problem:
    errors = [{"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg")}
              for e in exc.errors()]
    first = errors[0] if errors else {"where": "", "problem": "invalid"}
    extra: dict[str, Any] = {"errors": errors}
    loc = list(exc.errors()[0].get("loc", ())) if errors else []
    names = [p for p in loc[1:] if isinstance(p, str)]
    if names:
        extra["field"] = names[-1]
    indexes = [p for p in loc if isinstance(p, int)]
    if indexes:  # which query of a list (may-use's bulk form) is wrong
        extra["index"] = indexes[0]
    return Problem(422, "invalid", f"{first['where']}: {first['problem']}", **extra)


def from_http(exc: StarletteHTTPException) -> Problem:
    slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized",
            403: "forbidden", 413: "too-large", 415: "not-acceptable"}.get(
        exc.status_code, "bad-request")
    return Problem(exc.status_code, slug, str(exc.detail), headers=dict(exc.headers or {}))


def unavailable(exc: Exception) -> Problem | None:
    """The 503 for an exception that means Redis or the database did not answer, else None."""
    if isinstance(exc, redis.RedisError):
        part = "Redis"
    elif isinstance(exc, StoreUnavailable | DisconnectionError | PoolTimeout):
        part = "the database"
    elif isinstance(exc, DBAPIError) and (exc.connection_invalidated or
                                          _is_connection_error(exc)):
        part = "the database"
    else:
        return None
    return Problem(503, "unavailable", f"{part} does not answer; try again shortly",
                   headers={"Retry-After": RETRY_AFTER_UNAVAILABLE})


def _is_connection_error(exc: DBAPIError) -> bool:
    # PostgreSQL: SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot
    # connect now); psycopg raises OperationalError without a SQLSTATE when the server is
    # gone. SQLite's "database is locked" is an OperationalError too and means the same.
    from sqlalchemy.exc import OperationalError

    state = getattr(exc.orig, "sqlstate", None)
    if state is None:
        return isinstance(exc, OperationalError)
    return str(state).startswith("08") or str(state) in ("57P01", "57P02", "57P03")


def install(app: FastAPI, html: HtmlRenderer) -> None:
    """Make every error of ``app`` a problem (or, under /console, ``html``'s page)."""

    def answer(request: Request, problem: Problem) -> Response:
        if request.url.path.startswith("/console"):
            return html(request, problem.status, problem.slug, problem.detail)
        return problem_response(request, problem.status, problem.slug, problem.detail,
                                problem.headers, **problem.extra)

    async def on_any_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return answer(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problem = from_validation(exc)
        if request.url.path.startswith("/console") and any(
                e["where"].endswith("csrf") for e in problem.extra["errors"]):
            # A console form without its CSRF token is refused as a forgery (403), like
            # one with a wrong token, not described as a malformed form.
            problem = Problem(403, "forbidden", "csrf")
        return answer(request, problem)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        problem = from_http(exc)
        if exc.status_code == 405:
            # Starlette names only the first route's methods; a path may have several.
            from consent_api.openapi_contract import allowed_methods

            allow = allowed_methods(request.app, dict(request.scope))
            if not allow:  # only the catch-all OPTIONS route matched: no such path
                problem = from_http(StarletteHTTPException(404, "Not Found"))
            else:
                problem.headers["Allow"] = ", ".join(allow)
        return answer(request, problem)

    async def on_outage(request: Request, exc: Exception) -> Response:
        problem = unavailable(exc)
        if problem is None:
            log.error("request.failed", path=request.url.path, exc_info=exc)
            problem = Problem(500, "internal", "the API failed; see its log")
        else:
            log.warning("request.unavailable", path=request.url.path,
                        error=str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return answer(request, problem)

    app.add_exception_handler(Problem, on_any_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for outage in (redis.RedisError, StoreUnavailable, DBAPIError, DisconnectionError,
                   PoolTimeout):
        app.add_exception_handler(outage, on_outage)
    app.state.on_unhandled = on_outage
