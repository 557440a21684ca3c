"""A customer-centre agent's work in the console, in headless chromium: sign in, look up a
number, grant a consent, see the timeline update, switch language, a forged form refused,
sign out. With UPDATE_SCREENSHOTS=1 the screenshots of each page replace those in docs/
(the README shows them); otherwise they go to the test's temporary directory."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from consent_store.timeutil import iso, parse_instant
from tests.api.conftest import LMT, MINOR

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"


def test_agent_signs_in_grants_sees_timeline_and_signs_out(
        postgres_url: str, make_stack: Any, browser: Any, shots: Path) -> None:
    def shot(page: Any, name: str) -> None:
        page.screenshot(path=str(shots / f"console-{name}.png"), full_page=True)
        assert (shots / f"console-{name}.png").stat().st_size > 1000

    p, api = make_stack(postgres_url)
    added = p.ctl("agent", "add", "anna", "--password-stdin", input_text=PASSWORD + "\n")
    assert "anna" in added.stdout
    context = browser.new_context(base_url=api.base, viewport={"width": 1200, "height": 800})
    page = context.new_page()

    page.goto("/console")
    assert page.url.endswith("/console/login")
    assert page.locator("h1").inner_text() == "Pieteikties"  # Latvian by default
    shot(page, "login")

    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", "wrong password")
    page.click("#login button")
    assert "Nepareizs" in page.locator("#message").inner_text()

    page.fill("input[name=name]", "anna")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button")
    assert page.url.endswith("/console")
    assert page.locator("#agent").inner_text() == "anna"
    cookie = next(c for c in context.cookies() if c["name"] == "cgw_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    shot(page, "find")

    page.fill("input[name=msisdn]", "29000001")  # national form, as a caller says it
    page.click("#find button")
    assert page.url.endswith(f"/console/numbers/{LMT}")
    assert page.locator("tr[data-consent=VIETA] .status").inner_text() == "nav"

    form = page.locator("#change")
    form.locator("select[name=consent]").select_option("VIETA")
    form.locator("select[name=action]").select_option("give")
    form.locator("input[name=reason]").fill("klients zvanīja")
    form.locator("input[name=reference]").fill("CASE-42")
    form.locator("button").click()
    assert page.locator("#outcome").get_attribute("data-outcome") == "given"
    assert page.locator("#outcome").inner_text() == "dota"
    assert page.locator("tr[data-consent=VIETA] .status").inner_text() == "dota"
    first_row = page.locator("#timeline tr").nth(1)
    assert "klientu centrs" in first_row.inner_text()  # the channel in words
    assert "anna" in first_row.inner_text() and "CASE-42" in first_row.inner_text()
    assert "klients zvanīja" in first_row.inner_text()
    shot(page, "number")

    # The consents as they stood before the grant: VIETA was not given then.
    since = parse_instant(page.locator("tr[data-consent=VIETA] .since").get_attribute(
        "data-instant") or "")
    page.fill("#at-form input[name=at]", iso(since - timedelta(milliseconds=1)) or "")
    page.click("#at-form button")
    assert page.locator("tr[data-consent=VIETA] .status").inner_text() == "nav"
    page.click("#at-form a")  # back to now
    assert page.locator("tr[data-consent=VIETA] .status").inner_text() == "dota"

    # The same change recorded through the store, with the agent's name.
    history = json.loads(p.ctl("history", LMT, "--json").stdout)
    assert [(e["consent"], e["channel"], e["outcome"], e["agent"], e["reference"])
            for e in history] == [("VIETA", "customer_centre", "given", "anna", "CASE-42")]

    page.click("#lang")
    assert "Consents now" in page.content()
    assert page.locator("tr[data-consent=VIETA] .status").inner_text() == "given"
    shot(page, "number-en")

    with page.expect_download() as download:
        page.click("#export")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["msisdn"] == LMT and exported["consents"]["VIETA"]["status"] == "given"

    # A guardian may act only for a minor's line: refused here with a clear message ...
    form.locator("input[name=guardian]").check()
    form.locator("button").click()
    assert "minor's" in page.locator("#message").inner_text()
    assert len(json.loads(p.ctl("history", LMT, "--json").stdout)) == 1
    # ... and recorded with that basis on the minor's line.
    page.goto(f"/console/numbers/{MINOR}")
    minor = page.locator("#change")
    minor.locator("select[name=consent]").select_option("JAUNUMI")
    minor.locator("input[name=guardian]").check()
    minor.locator("button").click()
    assert page.locator("#outcome").get_attribute("data-outcome") == "given"
    [entry] = json.loads(p.ctl("history", MINOR, "--json").stdout)
    assert (entry["consent"], entry["on_behalf"], entry["agent"]) == ("JAUNUMI", "guardian", "anna")

    # A contact the agent had with the subscriber (restarts JAUNUMI's inactivity period).
    page.goto(f"/console/numbers/{LMT}")
    page.locator("#contact select[name=channel]").select_option("call")
    page.fill("#contact input[name=note]", "zvans par rēķinu")
    page.click("#contact button")
    assert page.locator("#contact-saved").is_visible()
    [recorded] = json.loads(p.ctl("export", LMT).stdout)["contacts"]
    assert recorded["channel"] == "call" and "zvans par rēķinu" in recorded["note"]

    # A forged form (wrong CSRF token) changes nothing.
    page.locator("#change input[name=csrf]").evaluate("e => e.value = 'forged'")
    form.locator("select[name=action]").select_option("withdraw")
    form.locator("button").click()
    assert page.locator("#message").is_visible()
    assert "stale" in page.locator("#message").inner_text()
    assert len(json.loads(p.ctl("history", LMT, "--json").stdout)) == 1
    # ... and a cross-site POST without the session's token neither.
    forged = context.request.post(f"/console/numbers/{LMT}/change", form={
        "consent": "VIETA", "action": "withdraw", "csrf": "x", "nonce": "abcdefgh12"})
    assert forged.status == 403

    page.goto(f"/console/numbers/{LMT}")
    page.click("#logout")
    assert page.url.endswith("/console/login?error=signed_out")
    page.goto(f"/console/numbers/{LMT}")
    assert page.url.endswith("/console/login")

    audit = json.loads(p.ctl("agent", "sign-ins", "anna", "--json").stdout)
    assert [a["event"] for a in audit] == ["signed_out", "signed_in", "refused"]
    context.close()
