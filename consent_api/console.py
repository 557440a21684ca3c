"""The customer-centre console: server-rendered pages (Jinja2, plain forms, no scripts).

Sessions live in Redis under a random id sent as an HttpOnly, SameSite=Strict cookie; every
form carries the session's CSRF token (the sign-in form a double-submit cookie); every
change goes through the same queue as a text, recorded with the agent's name.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from consent_api import changes, metrics, number_view, throttle
from consent_api.display import local_time, neutralise
from consent_api.i18n import ERRORS, LANGUAGES, translator, words
from consent_api.instants import NotAnInstant, read_instant
from consent_api.problems import Problem
from consent_api.services import Services
from consent_core.model import CONSENTS
from consent_core.msisdn import TON_UNKNOWN, BadSender, normalise
from consent_core.wording import reading_words
from consent_store import access
from consent_store.errors import BadRequest, NotFound
from consent_store.store import CONTACT_CHANNELS
from consent_store.timeutil import iso

router = APIRouter(prefix="/console", include_in_schema=False)
SESSION_COOKIE = "cgw_session"
LOGIN_COOKIE = "cgw_login"
LANG_COOKIE = "cgw_lang"
HASHER = PasswordHasher()
# Verified against when the agent does not exist, so that both cost the same time.
_DUMMY_HASH = HASHER.hash("not a password of anyone")

# ``finalize`` runs on every value a template prints, before autoescape: no control or
# bidi character of a subscriber's text reaches the page as itself (display.neutralise).
_env = Environment(loader=PackageLoader("consent_api", "templates"),
                   autoescape=select_autoescape(["html"]), auto_reload=False,
                   finalize=neutralise)
_env.filters["words"] = words


def _read_as(understood: str | None, match_rule: str | None, lang: str) -> str:
    """What a text that was not the exact command was read as (consent_core.wording)."""
    if not match_rule or match_rule == "exact":
        return ""
    return reading_words(understood, match_rule, lang)


_env.globals["read_as"] = _read_as
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


class ConsoleRedirect(Exception):
    def __init__(self, to: str) -> None:
        super().__init__(to)
        self.to = to


async def on_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRedirect)
    return RedirectResponse(exc.to, status_code=303)


def _svc(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _lang(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else _svc(request).settings.api.console_language


def _session_key(svc: Services, sid: str) -> str:
    return f"{svc.keys.prefix}:console:session:{hashlib.sha256(sid.encode()).hexdigest()}"


def _session(request: Request) -> dict[str, Any] | None:
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid or len(sid) > 100:
        return None
    svc = _svc(request)
    key = _session_key(svc, sid)
    raw = svc.redis.get(key)
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    # Checked on every request: a disabled agent, or one whose password changed since the
    # session began, is signed out at once (the session is deleted, not just refused).
    stored = access.agent_password_hash(svc.store.engine, str(data.get("agent", "")))
    if stored is None or not hmac.compare_digest(str(data.get("gen", "")), _generation(stored)):
        svc.redis.delete(key)
        return None
    return data


def _generation(password_hash: str) -> str:
    """What a session remembers of the agent's credentials: it changes with the password
    (a new salt every time) and is gone when the agent is disabled."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _signed_in(request: Request) -> dict[str, Any]:
    session = _session(request)
    if session is None:
        raise ConsoleRedirect("/console/login")
    return session


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)
    zone = _zone(_svc(request).settings.api.console_timezone)
    html = _env.get_template(template).render(
        t=translator(lang), lang=lang, other_lang="en" if lang == "lv" else "lv",
        path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        zone=zone.key, local=lambda v: local_time(v, zone), **context)
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _cookie(response: Response, svc: Services, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True,
                        samesite="strict", secure=svc.settings.api.cookie_secure)


def _csrf_ok(session: dict[str, Any], token: str) -> bool:
    return hmac.compare_digest(str(session.get("csrf", "")), token)


def _refused(request: Request) -> HTMLResponse:
    return _page(request, "error.html", status=403, message=translator(_lang(request))["csrf"])


# problem slug -> the console's words for it (problems.install renders errors here).
_ERROR_WORDS = {"unavailable": "e_unavailable", "not-found": "e_not_found",
                "too-large": "e_too_large", "internal": "e_internal"}


def error_page(request: Request, status: int, slug: str, detail: str) -> Response:
    """The console's page for an error of the whole request (never the detail's text: it
    may quote what the request said)."""
    t = translator(_lang(request))
    message = t["csrf"] if (status, detail) == (403, "csrf") else t[_ERROR_WORDS.get(slug, "e_request")]
    response = _page(request, "error.html", status=status, message=message)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


# --- sign in and out ------------------------------------------------------------------

@router.get("/login")
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    # Only the page's own notice is shown; any other ?error= is ignored, never echoed.
    response = _page(request, "login.html", csrf=token,
                     error=error if error == "signed_out" else None)
    _cookie(response, _svc(request), LOGIN_COOKIE, token, 3600)
    return response


@router.post("/login")
async def login(request: Request, name: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=1024)],
                csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    svc = _svc(request)
    if not csrf or not hmac.compare_digest(request.cookies.get(LOGIN_COOKIE, ""), csrf):
        return await run_in_threadpool(_refused, request)
    remote = request.client.host if request.client else None
    agent_ua = request.headers.get("user-agent")
    now = svc.clock()
    # Per source address, never per name (consent_api/throttle.py): a stranger who knows
    # an agent's name exhausts only their own address's budget.
    tries = await run_in_threadpool(throttle.count, svc.redis, svc.keys.prefix, "sign-in",
                                    remote or "-")
    if tries.n > svc.settings.api.sign_in_attempts_per_minute:
        metrics.SIGN_INS.labels(result="limited").inc()
        await run_in_threadpool(access.record_sign_in, svc.store.engine, name, "refused",
                                False, now, remote, agent_ua)
        return await run_in_threadpool(_too_many, request, csrf, tries.retry_after)
    gate: throttle.SignInGate = request.app.state.sign_in_gate
    try:
        async with asyncio.timeout(throttle.SIGN_IN_QUEUE_SECONDS):
            await gate.semaphore().acquire()
    except TimeoutError:
        metrics.SIGN_INS.labels(result="busy").inc()
        return await run_in_threadpool(_too_many, request, csrf, 1)
    try:
        stored, ok = await run_in_threadpool(_check_password, svc, name, password)
    finally:
        gate.semaphore().release()
    await run_in_threadpool(access.record_sign_in, svc.store.engine, name,
                            "signed_in" if ok else "refused", ok, now, remote, agent_ua)
    metrics.SIGN_INS.labels(result="ok" if ok else "refused").inc()
    if not ok or stored is None:
        return await run_in_threadpool(
            lambda: _page(request, "login.html", status=401, csrf=csrf, error="bad_login"))
    sid = secrets.token_urlsafe(32)
    session = {"agent": name, "csrf": secrets.token_urlsafe(24), "since": iso(now),
               "gen": _generation(stored)}
    await run_in_threadpool(svc.redis.set, _session_key(svc, sid), json.dumps(session),
                            ex=svc.settings.api.session_ttl)
    response = RedirectResponse("/console", status_code=303)
    _cookie(response, svc, SESSION_COOKIE, sid, svc.settings.api.session_ttl)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


def _too_many(request: Request, csrf: str, retry_after: int) -> HTMLResponse:
    response = _page(request, "login.html", status=429, csrf=csrf, error="too_many_logins")
    response.headers["Retry-After"] = str(retry_after)
    return response


def _check_password(svc: Services, name: str, password: str) -> tuple[str | None, bool]:
    """The agent's (possibly re-hashed) stored hash and whether ``password`` is right. An
    unknown or disabled name costs the same argon2 work as a wrong password."""
    stored = access.agent_password_hash(svc.store.engine, name)
    ok = _verify(stored or _DUMMY_HASH, password) and stored is not None
    if ok and stored is not None and HASHER.check_needs_rehash(stored):
        stored = HASHER.hash(password)
        access.set_agent_password_hash(svc.store.engine, name, stored)
    return stored, ok


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    svc = _svc(request)
    session = _signed_in(request)
    if not _csrf_ok(session, csrf):
        return _refused(request)
    sid = request.cookies.get(SESSION_COOKIE, "")
    svc.redis.delete(_session_key(svc, sid))
    access.record_sign_in(svc.store.engine, session["agent"], "signed_out", True, svc.clock(),
                          request.client.host if request.client else None,
                          request.headers.get("user-agent"))
    response = RedirectResponse("/console/login?error=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/console") -> Response:
    target = next if next.startswith("/console") and "//" not in next else "/console"
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        _cookie(response, _svc(request), LANG_COOKIE, lang, 365 * 86400)
    return response


# --- finding a number, its page, changes ----------------------------------------------

@router.get("")
def home(request: Request, msisdn: str | None = None) -> Response:
    session = _signed_in(request)
    if msisdn:
        found = normalise(msisdn.replace(" ", ""), TON_UNKNOWN, 1)
        if not isinstance(found, BadSender):
            return RedirectResponse(f"/console/numbers/{found.digits}", status_code=303)
        return _page(request, "home.html", status=422, session=session, query=msisdn,
                     error=translator(_lang(request))["bad_number"])
    return _page(request, "home.html", session=session, query="", error=None)


@router.get("/numbers/{msisdn}")
def number_page(request: Request, msisdn: str,
                at: Annotated[str | None, Query(max_length=40)] = None,
                done: Annotated[str | None, Query(max_length=200)] = None,
                error: Annotated[str | None, Query(max_length=300)] = None,
                contacted: Annotated[str | None, Query(max_length=1)] = None,
                page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> HTMLResponse:
    session = _signed_in(request)
    svc = _svc(request)
    n = _number(msisdn)
    when: datetime | None = None
    if at:
        try:
            when = read_instant(at.strip())
        except NotAnInstant:
            error = "at"
    try:
        state = svc.store.state(n, at=when).to_dict()
        held = True
    except NotFound:
        state = {"msisdn": n, "client_group": None,
                 "consents": {c: {"status": "none", "since": None, "channel": None}
                              for c in CONSENTS}}
        held = False
    timeline = number_view.timeline(svc.store, n, page, svc.settings.api.console_page_size)
    outcome = changes.known_outcome(svc, done) if done else None
    return _page(request, "number.html", session=session, msisdn=n, state=state, held=held,
                 timeline=timeline, at=iso(when), consents=CONSENTS, done=done,
                 outcome=outcome, error=error if error in ERRORS else None,
                 nonce=secrets.token_urlsafe(16), contacted=bool(contacted),
                 contact_channels=CONTACT_CHANNELS)


@router.post("/numbers/{msisdn}/contact")
async def contact(request: Request, msisdn: str, csrf: Annotated[str, Form(max_length=100)],
                  channel: Annotated[str, Form(max_length=32)],
                  note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """A communication the agent had with the subscriber (seed rule 4: it restarts
    JAUNUMI's inactivity period). Written to the store directly: it changes no consent."""
    session = await run_in_threadpool(_signed_in, request)
    if not _csrf_ok(session, csrf):
        return await run_in_threadpool(_refused, request)
    n = _number(msisdn)
    agent = str(session["agent"])
    text = f"{note.strip()} (agent {agent})" if note.strip() else f"agent {agent}"
    try:
        await run_in_threadpool(_svc(request).store.record_contact, n, channel, None, text)
    except BadRequest:
        return RedirectResponse(f"/console/numbers/{n}?error=contact", status_code=303)
    return RedirectResponse(f"/console/numbers/{n}?contacted=1", status_code=303)


def _number(msisdn: str) -> str:
    found = normalise(msisdn.replace(" ", ""), TON_UNKNOWN, 1)
    if isinstance(found, BadSender):
        raise ConsoleRedirect("/console?msisdn=" + _quote(msisdn))
    return found.digits


@router.post("/numbers/{msisdn}/change")
async def change(request: Request, msisdn: str, consent: Annotated[str, Form()],
           action: Annotated[str, Form()], csrf: Annotated[str, Form(max_length=100)],
           nonce: Annotated[str, Form(min_length=8, max_length=64)],
           reason: Annotated[str, Form(max_length=500)] = "",
           reference: Annotated[str, Form(max_length=200)] = "",
           guardian: Annotated[str, Form(max_length=10)] = "") -> Response:
    session = await run_in_threadpool(_signed_in, request)
    if not _csrf_ok(session, csrf):
        return await run_in_threadpool(_refused, request)
    svc = _svc(request)
    n = _number(msisdn)
    if consent not in CONSENTS or action not in ("give", "withdraw"):
        return RedirectResponse(f"/console/numbers/{n}?error=invalid", status_code=303)
    agent = str(session["agent"])
    # The form's nonce names the change: a double submit is the same event (a replay).
    event_id = "cc-" + hashlib.sha256(f"{agent}\0{nonce}".encode()).hexdigest()[:40]
    item = changes.Change(n, consent, action, "customer_centre", agent=agent,
                          reference=reference.strip() or None, reason=reason.strip() or None,
                          on_behalf="guardian" if guardian else None)
    try:
        request_ = changes.build_request(item, event_id, svc.clock(), f"console {agent}")
        await changes.submit_and_wait(svc, request_)
    except Problem as exc:
        code = "guardian" if exc.extra.get("field") == "on_behalf" else "invalid"
        return RedirectResponse(f"/console/numbers/{n}?error={code}", status_code=303)
    except redis.RedisError:
        return RedirectResponse(f"/console/numbers/{n}?error=queue", status_code=303)
    return RedirectResponse(f"/console/numbers/{n}?done={event_id}", status_code=303)


@router.get("/numbers/{msisdn}/export")
def export(request: Request, msisdn: str) -> Response:
    _signed_in(request)
    n = _number(msisdn)
    try:
        svc = _svc(request)
        data = svc.store.export(n, digest_dir=svc.settings.ledger.digest_dir)
    except NotFound:
        raise ConsoleRedirect(f"/console/numbers/{n}") from None
    return Response(json.dumps(data, ensure_ascii=False, indent=2),
                    media_type="application/json",
                    headers={**_SECURITY_HEADERS,
                             "Content-Disposition": f'attachment; filename="export-{n}.json"'})


@router.get("/static/console.css")
def stylesheet() -> Response:
    from importlib.resources import files

    css = files("consent_api").joinpath("static/console.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:300], safe="")
