"""Bearer tokens: who is calling, whether the token has the scope, and the rate limits
(per token; and per source address for unknown tokens, consent_api/throttle.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from consent_api import metrics, throttle
from consent_api.problems import Problem
from consent_api.services import Services
from consent_store.access import Token

# ``admin`` includes ``write`` and ``read``; ``write`` does not include ``read``: a
# self-service front end that only changes consents needs nothing else (docs/api.md).
_IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write"}, "read": {"read"}}


def has_scope(token: Token, scope: str) -> bool:
    return any(scope in _IMPLIED.get(s, set()) for s in token.scopes)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(scope: str) -> Callable[[Request], Awaitable[Token]]:
    """A FastAPI dependency: the caller's token, which has ``scope`` and is within its rate.

    async, and for a token looked up in the last ``api.token_cache_ttl`` seconds it does no
    I/O at all (the rate is counted in this process and added to Redis in steps,
    consent_api/throttle.py ``TokenRates``): a sync dependency cost a hop to the thread
    pool on every request. A cache miss reads the database in the thread pool, and so
    does counting a failure in Redis (the failure path may be slow; the good one not)."""

    async def dependency(request: Request) -> Token:
        svc: Services = request.app.state.services
        failures: throttle.BearerFailures = request.app.state.bearer_failures
        source = request.client.host if request.client else "-"
        now = time.monotonic()
        wait = failures.blocked_for(source, now)
        if wait:
            raise _too_many_failures(wait)
        secret = bearer(request)
        challenge = {"WWW-Authenticate": 'Bearer realm="consent-api"'}
        if secret is None:
            metrics.AUTH_FAILURES.labels(reason="missing").inc()
            raise Problem(401, "unauthorized", "send Authorization: Bearer <token>",
                          headers=challenge)
        held, token = svc.tokens.cached(secret)
        if not held:
            token = await run_in_threadpool(svc.tokens.find, secret)
        if token is None:
            metrics.AUTH_FAILURES.labels(reason="invalid").inc()
            wait = await run_in_threadpool(failures.failed, svc.redis, svc.keys.prefix,
                                           source, now)
            if wait:
                raise _too_many_failures(wait)
            raise Problem(401, "unauthorized", "the token is unknown or revoked",
                          headers={"WWW-Authenticate":
                                   'Bearer realm="consent-api", error="invalid_token"'})
        if not has_scope(token, scope):
            metrics.AUTH_FAILURES.labels(reason="scope").inc()
            raise Problem(403, "forbidden",
                          f"token {token.name!r} has scopes {','.join(token.scopes)}; "
                          f"this needs {scope}", required_scope=scope)
        rates: throttle.TokenRates | None = request.app.state.token_rates
        if rates is not None and not await rates.admit(token.token_id):
            raise rate_problem(token, rates)
        request.state.token = token
        return token

    return dependency


def rate_problem(token: Token, rates: throttle.TokenRates) -> Problem:
    """The answer to a request beyond its token's rate (counted as an auth failure)."""
    metrics.AUTH_FAILURES.labels(reason="rate").inc()
    return Problem(429, "rate-limited", f"token {token.name!r} is limited to {rates.limit} "
                   "requests per second", headers={"Retry-After": "1"})


def _too_many_failures(wait: int) -> Problem:
    metrics.AUTH_FAILURES.labels(reason="source").inc()
    return Problem(429, "rate-limited", "too many unknown tokens from this address; "
                   f"try again in {wait} s", headers={"Retry-After": str(wait)})
