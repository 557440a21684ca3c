"""The OpenAPI document as the API behaves, and the answer to ``OPTIONS``.

FastAPI derives paths, parameters and bodies from the code; this adds what it cannot
see: the bearer security scheme and each operation's scope, every error status each
operation can answer (all ``application/problem+json``), ``Idempotency-Key`` as the
required header it is, and links between operations (a change, then its number's
consents) for clients and for the schema-driven tests' stateful phase.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from starlette.routing import Match

from consent_api.problems import PROBLEM_JSON, TYPE_PREFIX

_PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "urn:lmt-consent:problem:<slug> "
                 "(docs/api.md lists them); switch on this"},
        "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "field": {"type": "string"}, "index": {"type": "integer"},
        "required_scope": {"type": "string"}, "limit": {"type": "integer"},
    },
}
_WHY = {
    "400": "the request cannot be read: a body that is not JSON text, or Idempotency-Key "
           "missing or malformed (bad-request)",
    "401": "no bearer token, or an unknown or revoked one (unauthorized)",
    "403": "the token lacks the scope (forbidden)",
    "404": "nothing is held about the number, or no such change or subscription (not-found)",
    "409": "the Idempotency-Key was used with another request (conflict)",
    "413": "the body is larger than api.max_body_bytes (too-large)",
    "422": "a field is not valid (invalid, too-many, guardian-not-applicable)",
    "429": "over the token's rate, or too many unknown tokens from this address "
           "(rate-limited; Retry-After)",
    "503": "Redis or the database does not answer (unavailable; Retry-After)",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
# Statuses every authenticated operation can answer, and those of particular ones.
_ALWAYS = ("401", "403", "422", "429", "503")
_BODY = ("400", "413")
_SCOPE = {("get", "/v1/events/{event_id}"): "write",
          ("post", "/v1/numbers/{msisdn}/consents/{consent}"): "write",
          ("post", "/v1/numbers/{msisdn}/contacts"): "write",
          ("post", "/v1/numbers/{msisdn}/reset"): "admin"}
_EXTRA = {("post", "/v1/numbers/{msisdn}/consents/{consent}"): ("400", "409"),
          ("get", "/v1/numbers/{msisdn}/consents"): ("404",),
          ("get", "/v1/numbers/{msisdn}/history"): ("404",),
          ("get", "/v1/numbers/{msisdn}/export"): ("404",),
          ("get", "/v1/events/{event_id}"): ("404",),
          ("post", "/v1/numbers/{msisdn}/reset"): ("404",)}


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = _PROBLEM_SCHEMA
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "a token from `consentctl api-token create NAME --scopes …`; scopes "
                       "read, write, admin (docs/api.md)"}}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if path.startswith("/v1/"):
                _describe(method, path, op)
    return doc


def _describe(method: str, path: str, op: dict[str, Any]) -> None:
    scope = _SCOPE.get((method, path), "read" if method == "get" else "write")
    op["security"] = [{"bearer": []}]
    op["description"] = (op.get("description", "") + f"\n\nScope: `{scope}`.").strip()
    responses = op.setdefault("responses", {})
    # A path parameter names something (a number, a change, a webhook) that may not exist.
    named = ("404",) if any(p.get("in") == "path" for p in op.get("parameters", [])) else ()
    statuses = sorted(set(_ALWAYS + _EXTRA.get((method, path), ()) + named +
                          (_BODY if "requestBody" in op else ())))
    for status in statuses:
        response: dict[str, Any] = {"description": _WHY[status], "content": {
            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        if status in ("429", "503"):
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    for param in op.get("parameters", []):
        if param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key":
            # Required (400 bad-request without it); the code reads it as optional only to
            # answer its absence with that problem rather than a generic 422.
            param["required"] = True
            schema = param.get("schema", {})
            param["schema"] = {k: v for k, v in schema.items() if k != "anyOf"} | {
                "type": "string", "pattern": _idempotency_pattern(schema)}
    if (method, path) == ("post", "/v1/numbers/{msisdn}/consents/{consent}"):
        links = {"ConsentsOfTheNumber": {
            "operationId": "get_consents_v1_numbers__msisdn__consents_get",
            "parameters": {"msisdn": "$request.path.msisdn"}},
            "WhatBecameOfIt": {
            "operationId": "get_event_v1_events__event_id__get",
            "parameters": {"event_id": "$response.body#/event_id"}}}
        for status in ("200", "202"):
            responses.setdefault(status, {"description": "answered"})["links"] = links
        responses.get("202", {}).setdefault("headers", {})["Location"] = {
            "description": "the status URL, /v1/events/{event_id}", "schema": {"type": "string"}}


def _idempotency_pattern(schema: dict[str, Any]) -> str:
    for option in schema.get("anyOf", [schema]):
        if "pattern" in option:
            return str(option["pattern"])
    raise AssertionError("Idempotency-Key has no pattern")


_ANY_PATH = "/{path:path}"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """Every method some route serves at the scope's path (Starlette's 405 names only the
    first route's). Each method is probed through the routes' own matching, so included
    routers are covered whatever their internal shape."""
    methods = set()
    for method in _METHODS:
        probe = {**scope, "method": method}
        for route in app.router.routes:
            if getattr(route, "path", None) == _ANY_PATH:
                continue  # the OPTIONS answer below matches every path
            if route.matches(probe)[0] == Match.FULL:
                methods.add(method)
                break
    return sorted(methods | {"OPTIONS"}) if methods else []


def install(app: FastAPI) -> None:
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(document(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]

    @app.options(_ANY_PATH, include_in_schema=False)
    def options(request: Request, path: str) -> Response:
        del path
        allow = allowed_methods(app, dict(request.scope))
        if not allow:
            from starlette.exceptions import HTTPException

            raise HTTPException(404, "no such path")
        return Response(status_code=204, headers={"Allow": ", ".join(allow)})


__all__ = ["TYPE_PREFIX", "allowed_methods", "document", "install"]
