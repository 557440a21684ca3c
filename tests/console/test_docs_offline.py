"""``/docs`` and ``/redoc`` render on a machine without internet access: headless chromium
with every request to another host refused, against ``consent-api run``; each page shows
a rendered operation of the API (not an empty page) and breaks no rule of its
Content-Security-Policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


def test_docs_and_redoc_render_operations_offline_under_their_csp(
        sqlite_url: str, make_stack: Any, browser: Any) -> None:
    _, api = make_stack(sqlite_url, worker=False)
    context = browser.new_context(base_url=api.base, viewport={"width": 1280, "height": 900})
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:  # the internet is not there
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    complaints: list[str] = []
    page.on("console", lambda m: complaints.append(m.text)
            if "Content Security Policy" in m.text or m.type == "error" else None)

    response = page.goto("/docs")
    assert response is not None and "script-src 'self'" in response.headers[
        "content-security-policy"]
    operation = page.locator(".opblock-summary-path", has_text="/v1/may-use").first
    operation.wait_for(state="visible", timeout=30_000)
    operation.click()  # expand it: its parameters are listed
    page.locator(".parameters-container", has_text="msisdn").first.wait_for(timeout=30_000)
    assert page.locator(".opblock-summary-path").count() >= 9

    response = page.goto("/redoc")
    assert response is not None and "content-security-policy" in response.headers
    heading = page.locator("h2", has_text="May we use consent X of number N").first
    heading.wait_for(state="visible", timeout=30_000)

    assert elsewhere == [], elsewhere
    assert complaints == [], complaints
    context.close()
