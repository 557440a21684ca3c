"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served with their scripts and styles from
an installed package (``fastapi-offline`` ships both bundles), under a Content-Security-
Policy that allows nothing from elsewhere.

FastAPI's own pages load them from public CDNs and start them with an inline script, so
on a machine without internet access they were blank. Here the pages are static HTML, the
start-up code is a file of ours, and the policy forbids inline scripts.
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)

# Swagger UI sets styles from script and shows data: images (icons); ReDoc injects its
# styles as <style> elements (styled-components) and runs its search index in a worker
# started from a blob: URL. Scripts: our own origin only, never inline.
CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
              "worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
_HEADERS: Final = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}
_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

_SWAGGER: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LMT consent API — Swagger UI</title>
<link rel="icon" href="/docs/assets/favicon.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/start-swagger.js"></script></body></html>
"""
_START_SWAGGER: Final = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout", showExtensions: true, showCommonExtensions: true,
  validatorUrl: null
});
"""
_REDOC: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LMT consent API — ReDoc</title>
<link rel="icon" href="/docs/assets/favicon.png"></head>
<body><div id="redoc"></div>
<script src="/docs/assets/redoc.standalone.js"></script>
<script src="/docs/assets/start-redoc.js"></script></body></html>
"""
_START_REDOC: Final = """Redoc.init("/openapi.json", {}, document.getElementById("redoc"));
"""
_OURS: Final = {"start-swagger.js": _START_SWAGGER, "start-redoc.js": _START_REDOC}


@router.get("/docs")
def swagger() -> HTMLResponse:
    return HTMLResponse(_SWAGGER, headers=_HEADERS)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return HTMLResponse(_REDOC, headers=_HEADERS)


@router.get("/docs/assets/{name}")
def asset(name: str) -> Response:
    cache = {**_HEADERS, "Cache-Control": "max-age=86400"}
    if name in _OURS:
        return Response(_OURS[name], media_type="text/javascript", headers=cache)
    if name not in _ASSETS:
        raise HTTPException(404, f"no asset {name!r}")
    return Response(_asset_bytes(name), media_type=_ASSETS[name], headers=cache)


# The one image ReDoc's bundle fetches from elsewhere (its footer logo): pointed at ours,
# so that the page asks nothing of the internet (the CSP would block it anyway).
_REMOTE = {"redoc.standalone.js": [(b"https://cdn.redoc.ly/redoc/logo-mini.svg",
                                    b"/docs/assets/favicon.png")]}


@functools.cache
def _asset_bytes(name: str) -> bytes:
    data = files("fastapi_offline").joinpath("static", name).read_bytes()
    for remote, local in _REMOTE.get(name, []):
        data = data.replace(remote, local)
    return data
