"""The console as an agent's tool and as an attacker meets it, in headless chromium against
the real processes (simulator, gateway, worker, ``consent-api run``, PostgreSQL and a
Redis of the test's own): a number's timeline in Riga time with the zone shown, actions
and outcomes in words in both languages, each reply's delivery, the description the
subscriber was told, paging; texts with ESC and U+202E shown as code points; sessions
that end when the agent is disabled or the password changes; sign-in throttled per source
address (a stranger cannot lock an agent out); forms without CSRF refused with 403;
``?error=`` never echoed; Redis down answered with the 503 page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from consent_store.timeutil import parse_instant
from smsc_sim.threaded import SimulatorThread
from tests.api.conftest import LMT, import_directory
from tests.support.api import Api, start_api
from tests.support.pipeline import Pipeline, Pipelines, wait_until
from tests.support.servers import RedisServer, free_port, new_tempdir

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
RIGA = ZoneInfo("Europe/Riga")
ODD = "\x1b[31mhello\u202eATEIV"  # ESC (a terminal colour) and RIGHT-TO-LEFT OVERRIDE
CODES = ("give", "withdraw", "unknown_command", "help", "customer_centre", "sms",
         "DELIVRD ", "confirm_asked", "none_in_force")


@pytest.fixture
def stack(tmp_path: Path, sim: SimulatorThread, postgres_url: str
          ) -> Iterator[tuple[Pipeline, Api, RedisServer]]:
    own = RedisServer(dir=new_tempdir("smsgw-console-redis-"))
    own.start()
    pipelines = Pipelines(tmp_path, sim.port)
    p = pipelines.make(own.url, postgres_url, {"api": {
        "host": "127.0.0.1", "port": free_port(), "change_wait": 5.0, "console_page_size": 3}})
    import_directory(p, tmp_path)
    p.gateway()
    p.worker()
    try:
        yield p, start_api(p), own
    finally:
        pipelines.stop()
        own.stop()


def sign_in(page: Any, name: str, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("#login button")


def sign_in_from(api: Api, address: str, name: str, password: str) -> int:
    """One sign-in attempt from ``address`` (any 127.x.y.z is this host); its status."""
    with httpx.Client(base_url=api.base, transport=httpx.HTTPTransport(local_address=address),
                      follow_redirects=False) as c:
        form = c.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        return c.post("/console/login", data={"name": name, "password": password,
                                               "csrf": token.group(1)}).status_code


def test_the_console_as_an_agent_and_as_an_attacker_meet_it(
        stack: tuple[Pipeline, Api, RedisServer], sim: SimulatorThread, browser: Any,
        shots: Path) -> None:
    # One stack for both views (it takes the most time of the test); the attacker's view
    # comes second because it ends by stopping Redis.
    timeline_in_riga_time_in_words_with_delivery_description_and_pages(
        stack, sim, browser, shots)
    sessions_end_with_the_agent_throttling_per_address_forms_and_outages(stack, browser)


def timeline_in_riga_time_in_words_with_delivery_description_and_pages(
        stack: tuple[Pipeline, Api, RedisServer], sim: SimulatorThread, browser: Any,
        shots: Path) -> None:
    p, api, _ = stack
    p.ctl("agent", "add", "anna", "--password-stdin", input_text=PASSWORD + "\n")
    assert sim.wait_for_bind(20)
    # The newest is a withdrawal in the subscriber's own words: the agent sees what it was
    # read as, in words (issue: agents see the same understanding as `history`).
    for text in ("VIETA", ODD, "AUTO", "Lūdzu, atsauciet VIETA"):
        sim.send_mo(LMT, text)

    def settled() -> bool:
        replies = json.loads(p.ctl("export", LMT, "--json").stdout)["replies"]
        return len(replies) == 4 and all(r["fate"] == "delivered" for r in replies)

    assert wait_until(settled, 30), p.ctl("export", LMT, "--json").stdout

    context = browser.new_context(base_url=api.base, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    sign_in(page, "anna")
    page.goto(f"/console/numbers/{LMT}")
    assert "Europe/Riga" in page.locator("#zone").inner_text()

    # Page 1 of 2, newest first: VIETA STOP, AUTO, the odd text.
    assert page.locator("#page-of").inner_text() == "Lapa 1 no 2"
    rows = page.locator("#timeline tr.event")
    assert rows.count() == 3
    for i in range(3):
        when = rows.nth(i).locator(".when")
        local = parse_instant(when.get_attribute("data-instant") or "").astimezone(RIGA)
        assert when.inner_text() == f"{local:%d.%m.%Y %H:%M:%S} {local.tzname()}"
    newest = rows.nth(0)
    assert newest.locator(".action").inner_text() == "atsaukt"
    assert newest.locator(".outcome").inner_text() == "atsaukta"
    assert newest.locator(".channel").inner_text() == "īsziņa"
    assert newest.locator(".read-as").inner_text() == (
        " · saprasts kā \u201cVIETA STOP\u201d (bez pieturzīmēm un emocijzīmēm, "
        "bez pieklājības vārdiem, noliegums vai darbības vārds)")
    assert newest.locator(".delivery").inner_text().startswith("piegādāta (DELIVRD, ")
    told = newest.locator(".told")
    assert "versija" in told.locator("summary").inner_text()
    assert not told.locator(".description").is_visible()
    told.locator("summary").click()  # the text on demand
    assert told.locator(".description").is_visible()
    assert len(told.locator(".description").inner_text()) > 20

    odd = rows.nth(2)
    assert odd.locator(".text").inner_text() == "[U+001B][31mhello[U+202E]ATEIV"
    assert odd.locator(".outcome").get_attribute("data-outcome") == "unknown_command"
    assert odd.locator(".outcome").inner_text() == "nesaprasts teksts"
    html = page.content()
    assert "\u202e" not in html and "\x1b" not in html
    visible = page.locator("#timeline").inner_text()
    assert not [c for c in CODES if re.search(rf"(?<![\w-]){c}(?![\w-])", visible)], visible
    page.screenshot(path=str(shots / "console-timeline.png"), full_page=True)

    page.click("#older")
    assert page.locator("#page-of").inner_text() == "Lapa 2 no 2"
    [first] = page.locator("#timeline tr.event").all()
    assert first.locator(".action").inner_text() == "dot"
    assert first.locator(".outcome").inner_text() == "dota"

    page.click("#lang")
    assert page.locator("#page-of").inner_text() == "Page 2 of 2"
    assert first.locator(".action").inner_text() == "give"
    assert first.locator(".outcome").inner_text() == "given"
    assert first.locator(".delivery").inner_text().startswith("delivered (DELIVRD, ")
    context.close()


def sessions_end_with_the_agent_throttling_per_address_forms_and_outages(
        stack: tuple[Pipeline, Api, RedisServer], browser: Any) -> None:
    p, api, own = stack
    for name in ("dora", "bruno", "cilda"):
        p.ctl("agent", "add", name, "--password-stdin", input_text=PASSWORD + "\n")
    recorded = len(json.loads(p.ctl("history", LMT, "--json").stdout))
    dora = browser.new_context(base_url=api.base)
    page = dora.new_page()
    sign_in(page, "dora")
    page.goto(f"/console/numbers/{LMT}")
    csrf = page.locator("#change input[name=csrf]").input_value()

    # Disabled: the open session ends at once; its cookie changes nothing any more.
    p.ctl("agent", "disable", "dora")
    page.goto(f"/console/numbers/{LMT}")
    assert page.url.endswith("/console/login")
    late = dora.request.post(f"/console/numbers/{LMT}/change", max_redirects=0, form={
        "consent": "JAUNUMI", "action": "give", "csrf": csrf, "nonce": "late-change-1"})
    assert late.status == 303 and late.headers["location"] == "/console/login"
    assert len(json.loads(p.ctl("history", LMT, "--json").stdout)) == recorded

    # A new password: the session opened with the old one ends too.
    bruno = browser.new_context(base_url=api.base)
    page = bruno.new_page()
    sign_in(page, "bruno")
    page.goto(f"/console/numbers/{LMT}")
    p.ctl("agent", "passwd", "bruno", "--password-stdin",
          input_text="another long password\n")
    page.goto(f"/console/numbers/{LMT}")
    assert page.url.endswith("/console/login")

    # A stranger at another address sprays names (cilda's among them): only that address
    # is refused, with a constant number of counters whatever the names.
    statuses = [sign_in_from(api, "127.0.0.2", name, "guess") for name in
                ["cilda"] * 5 + [f"name{i}" for i in range(9)]]
    assert statuses == [401] * 10 + [429] * 4
    counters = redis.Redis.from_url(own.url).keys("*throttle*127.0.0.2*")
    assert len(counters) == 1, counters  # one per address, however many names
    cilda = browser.new_context(base_url=api.base)
    page = cilda.new_page()
    sign_in(page, "cilda")
    assert page.url.endswith("/console") and page.locator("#agent").inner_text() == "cilda"

    # A form without its CSRF field: refused as a forgery (403), not as a malformed form.
    forged = cilda.request.post(f"/console/numbers/{LMT}/change", form={
        "consent": "VIETA", "action": "give", "nonce": "forged-no-csrf"})
    assert forged.status == 403 and "text/html" in forged.headers["content-type"]
    # ?error= is not echoed.
    page.goto("/console/login?error=Your+account+is+locked.+Call+%2B371+6000000")
    shown = page.locator("body").inner_text()
    assert "locked" not in shown and "6000000" not in shown, shown

    # An instant with no UTC form, or a plain number, in "show at": the form says so.
    for at in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00", "-309"):
        shown = cilda.request.get(f"/console/numbers/{LMT}?at={at}")
        assert shown.status == 200 and "Nederīgs laiks" in shown.text(), at

    # Redis down: the console's own page, 503 with Retry-After, not a traceback.
    own.stop()
    down = cilda.request.get(f"/console/numbers/{LMT}")
    assert down.status == 503 and int(down.headers["retry-after"]) > 0
    assert "Redis" in down.text() and "Traceback" not in down.text()
    for context in (dora, bruno, cilda):
        context.close()
