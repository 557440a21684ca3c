"""The ASGI application: ``/v1`` (API), ``/console`` (agents), ``/healthz``, ``/metrics``."""

from __future__ import annotations

import time
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent_api import (
    api,
    audiences,
    console,
    docs_pages,
    metrics,
    openapi_contract,
    problems,
    subscribers,
    throttle,
    webhooks,
)
from consent_api.body_limit import BodyLimit
from consent_api.fastpath import MayUseFastPath
from consent_api.services import Services
from consent_queue.connection import async_redis_client

log = structlog.get_logger("api")


def create_app(svc: Services) -> FastAPI:
    app = FastAPI(
        title="LMT consent API",
        version="1",
        description="Consents of LMT numbers: read, give and withdraw (through the same queue "
                    "as SMS), may-use checks and a feed of changes. Errors are "
                    "application/problem+json (RFC 9457).",
        docs_url=None, redoc_url=None,  # served offline by docs_pages
    )
    app.state.services = svc
    app.state.sign_in_gate = throttle.SignInGate(svc.settings.api.sign_in_concurrency)
    app.state.bearer_failures = throttle.BearerFailures(svc.settings.api.auth_failures_per_minute)
    rate = svc.settings.api.rate_per_second
    app.state.token_rates = (throttle.TokenRates(rate, async_redis_client(svc.settings.redis),
                                                 svc.keys.prefix) if rate > 0 else None)
    app.include_router(api.router)
    app.include_router(subscribers.router)
    app.include_router(webhooks.router)
    app.include_router(audiences.router)
    app.include_router(console.router)
    app.include_router(docs_pages.router)
    problems.install(app, html=console.error_page)
    app.add_exception_handler(console.ConsoleRedirect, console.on_redirect)
    openapi_contract.install(app)

    # Inside the metrics: a may-use answered below FastAPI is counted and timed the same.
    may_use_route = next(r for r in api.router.routes if getattr(r, "path", None) == "/v1/may-use"
                         and "GET" in getattr(r, "methods", ()))
    app.add_middleware(MayUseFastPath, route=may_use_route)
    app.add_middleware(Measure)
    # Outermost: no byte of an oversized body is read by anything else.
    app.add_middleware(BodyLimit, limit=svc.settings.api.max_body_bytes)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        ok, checks = await run_in_threadpool(health, svc)
        return JSONResponse({"ok": ok, **checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics_page() -> Response:
        return Response(generate_latest(metrics.REGISTRY)
                        + generate_latest(metrics.directory_registry(
                            svc.store.last_directory_sync)),
                        media_type=CONTENT_TYPE_LATEST)

    return app


class Measure:
    """ASGI middleware: counts and times every request by route (``/metrics``), and answers
    what no handler took — an outage (503) or a bug (500) — as a problem.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
    runs the application in a task of its own with memory streams between, a cost on every
    request. The time is taken when the answer's status line goes out, as before (for a
    streamed answer: its first byte)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        sent = False

        async def measured(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.start" and not sent:
                sent = True
                route = getattr(scope.get("route"), "path", "unmatched")
                metrics.REQUESTS.labels(route=route, method=scope["method"],
                                        status=str(message["status"])).inc()
                metrics.LATENCY.labels(route=route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, measured)
        except Exception as exc:
            if sent:
                raise  # the answer has begun: nothing else can be sent
            request = Request(scope, receive)
            response = await request.app.state.on_unhandled(request, exc)
            await response(scope, receive, measured)


def health(svc: Services) -> tuple[bool, dict[str, Any]]:
    """The store answers, Redis answers, and at least one worker serves every shard."""
    checks: dict[str, Any] = {}
    try:
        with svc.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["store"] = {"ok": True}
    except Exception as exc:
        checks["store"] = {"ok": False, "error": str(exc).splitlines()[0][:200]}
    try:
        from rq import Worker

        svc.redis.ping()
        checks["redis"] = {"ok": True}
        served: set[str] = set()
        for w in Worker.all(connection=svc.redis):
            served.update(w.queue_names())
        shards = [svc.keys.event_queue(s) for s in range(svc.keys.shards)]
        missing = [q for q in shards if q not in served]
        checks["workers"] = {"ok": not missing, "shards_without_worker": missing}
    except Exception as exc:
        checks["redis"] = {"ok": False, "error": str(exc).splitlines()[0][:200]}
        checks["workers"] = {"ok": False, "error": "Redis did not answer"}
    return all(c["ok"] for c in checks.values()), checks
