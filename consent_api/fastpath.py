"""``GET /v1/may-use`` answered below FastAPI when the request is the plain case.

A downstream campaign asks may-use a thousand times a second; FastAPI spends most of a
request's CPU on routing, resolving the token dependency and validating the two query
parameters (docs/performance.md, "may-use at campaign speed"). This ASGI middleware,
inside the request metrics and the body limit, answers the plain case itself with the
same steps in the same order and the same bytes:

- ``GET /v1/may-use`` with ``msisdn`` and ``consent`` once each and no ``at``;
- a bearer token looked up within ``api.token_cache_ttl`` (``TokenStore.cached``) that is
  valid and has the ``read`` scope, from an address not blocked for unknown tokens;
- values the route's patterns accept and ``number``/``consent_name`` read.

Anything else — no or unknown token, a blocked address, a bad value, a question about an
instant, a token not cached yet — goes to the FastAPI route unchanged, which answers (or
refuses) it as before and fills the token cache. The token's rate is counted here exactly
once (``TokenRates.admit``); a refusal is the route's 429 problem. The route stays the
documented one (OpenAPI, problem+json); tests/api/test_fastpath.py compares the two paths.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from consent_api import auth, metrics, throttle
from consent_api.api import (
    CONSENT_PATTERN,
    MSISDN_PATTERN,
    _json,
    _may_use_async,
    consent_name,
    number,
)
from consent_api.problems import Problem, problem_response
from consent_api.services import Services
from consent_store.access import Token

PATH = "/v1/may-use"
SCOPE = "read"


class MayUseFastPath:
    def __init__(self, app: ASGIApp, route: object) -> None:
        self.app = app
        self._route = route  # the FastAPI route, for the request metrics' label
        self._msisdn = re.compile(MSISDN_PATTERN)
        self._consent = re.compile(CONSENT_PATTERN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        query = self._query(scope)
        request = Request(scope, receive)
        svc: Services | None = getattr(request.app.state, "services", None)
        token = None if query is None or svc is None else self._token(request, svc)
        if query is None or svc is None or token is None:
            await self.app(scope, receive, send)
            return
        rates: throttle.TokenRates | None = request.app.state.token_rates
        scope["route"] = self._route
        if rates is not None and not await rates.admit(token.token_id):
            problem = auth.rate_problem(token, rates)
            response = problem_response(request, problem.status, problem.slug, problem.detail,
                                        problem.headers, **problem.extra)
            await response(scope, receive, send)
            return
        request.state.token = token
        answer = (await _may_use_async(svc, [(query[0], query[1], None)]))[0]
        await _json(answer)(scope, receive, send)

    def _query(self, scope: Scope) -> tuple[str, str] | None:
        """(number, consent) for the plain case, else None (the route decides)."""
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        got: dict[str, str] = {}
        for key, value in pairs:
            if key in got or key == "at":
                return None
            got[key] = value
        msisdn, consent = got.get("msisdn"), got.get("consent")
        # fullmatch: the patterns end in ``$``, which Python's ``re`` also matches before a
        # final newline; the route's validator does not.
        if msisdn is None or consent is None or not self._msisdn.fullmatch(msisdn) \
                or not self._consent.fullmatch(consent):
            return None
        try:
            return number(msisdn), consent_name(consent)
        except Problem:
            return None

    @staticmethod
    def _token(request: Request, svc: Services) -> Token | None:
        """The caller's token if it is cached, valid and may read; else None."""
        failures: throttle.BearerFailures = request.app.state.bearer_failures
        source = request.client.host if request.client else "-"
        if failures.blocked_for(source, time.monotonic()):
            return None
        secret = auth.bearer(request)
        if secret is None:
            return None
        held, token = svc.tokens.cached(secret)
        if not held or token is None or not auth.has_scope(token, SCOPE):
            return None
        metrics.FAST_PATH.inc()
        return token
