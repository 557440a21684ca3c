"""Bearer tokens: who is calling, whether the token has the scope, and the rate limits
(per token; and per source address for unknown tokens, consent_api/throttle.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request

from consent_api import metrics, throttle
from consent_api.problems import Problem
from consent_api.services import Services
from consent_store.access import Token

# ``admin`` includes ``write`` and ``read``; ``write`` does not include ``read``: a
# self-service front end that only changes consents needs nothing else (docs/api.md).
_IMPLIED = {"admin": {"admin", "write", "read"}, "write": {"write"}, "read": {"read"}}

# KEYS: the window's counter. ARGV: limit. Returns the count after this request.
_RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 2) end
return n
"""


def has_scope(token: Token, scope: str) -> bool:
    return any(scope in _IMPLIED.get(s, set()) for s in token.scopes)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(scope: str) -> Callable[[Request], Token]:
    """A FastAPI dependency: the caller's token, which has ``scope`` and is within its rate."""

    def dependency(request: Request) -> Token:
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
        token = svc.tokens.find(secret)
        if token is None:
            metrics.AUTH_FAILURES.labels(reason="invalid").inc()
            wait = failures.failed(svc.redis, svc.keys.prefix, source, now)
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
        _check_rate(svc, token)
        request.state.token = token
        return token

    return dependency


def _too_many_failures(wait: int) -> Problem:
    metrics.AUTH_FAILURES.labels(reason="source").inc()
    return Problem(429, "rate-limited", "too many unknown tokens from this address; "
                   f"try again in {wait} s", headers={"Retry-After": str(wait)})


def _check_rate(svc: Services, token: Token) -> None:
    limit = svc.settings.api.rate_per_second
    if limit <= 0:
        return
    # A one-second window shared by every API process (the limit is per token, not per
    # process). Wall-clock seconds only name the window; no calendar time is reasoned on.
    window = int(time.time())
    key = f"{svc.keys.prefix}:api:rate:{token.token_id}:{window}"
    count = int(svc.redis.eval(_RATE, 1, key, limit))
    if count > limit:
        metrics.AUTH_FAILURES.labels(reason="rate").inc()
        raise Problem(429, "rate-limited",
                      f"token {token.name!r} is limited to {limit} requests per second",
                      headers={"Retry-After": "1"})
