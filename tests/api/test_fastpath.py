"""``GET /v1/may-use`` answered below FastAPI (consent_api/fastpath.py) says exactly what
the route says, and everything that is not the plain case still reaches the route: over
real HTTP against ``consent-api run``, a worker, Redis and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.api.conftest import LMT, OTHER
from tests.api.test_api import GIVE, WITHDRAW, post
from tests.support.api import problem
from tests.support.pipeline import wait_until


def _fast_count(c: httpx.Client) -> float:
    found = re.search(r"^consent_api_may_use_fast_path_total (\S+)$", c.get("/metrics").text,
                      re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.headers["content-type"], a.content) == \
        (b.status_code, b.headers["content-type"], b.content)


def test_the_fast_path_answers_byte_for_byte_what_the_route_answers(
        postgres_url: str, make_stack: Any) -> None:
    # A token cached for a minute: the first request of each question fills the cache on
    # the route; the second one is answered below the framework.
    _, api = make_stack(postgres_url, token_cache_ttl=60.0)
    reader = api.token("campaign", "read")
    with api.client(api.token("web", "read,write")) as w:
        post(w, LMT, "VIETA", GIVE, "f-1")
        post(w, OTHER, "JAUNUMI", GIVE, "f-2")
        post(w, OTHER, "JAUNUMI", WITHDRAW, "f-3")
    with httpx.Client(base_url=api.base) as anon, api.client(reader) as c:
        first = c.get("/v1/may-use", params={"msisdn": LMT, "consent": "AUTO"})
        assert first.status_code == 200  # the route: the token was not cached yet
        before = _fast_count(anon)
        for params in ({"msisdn": LMT, "consent": "VIETA"},
                       {"msisdn": "+37129000001", "consent": "vieta"},  # written otherwise
                       {"msisdn": "0037129000001", "consent": "VIETA", "x": "ignored"},
                       {"msisdn": "29000002", "consent": "JAUNUMI"},  # national form
                       {"msisdn": OTHER, "consent": "METADATI"}):  # never asked: none
            fast = c.get("/v1/may-use", params=params)
            # The same question asked with an instant of "now" goes to the route (an
            # instant is never the plain case); its answer differs only in "at".
            routed = c.get("/v1/may-use", params={**params, "at": "2100-01-01T00:00:00Z"})
            assert routed.status_code == 422  # the future: the route's own check
            assert fast.status_code == 200, fast.text
            assert fast.headers["content-type"] == "application/json"
        answers = [c.get("/v1/may-use", params={"msisdn": n, "consent": k}).json()
                   for n, k in ((LMT, "VIETA"), (OTHER, "JAUNUMI"), (OTHER, "METADATI"))]
        assert [(a["msisdn"], a["allowed"], a["status"]) for a in answers] == [
            (LMT, True, "given"), (OTHER, False, "withdrawn"), (OTHER, False, "none")]
        assert _fast_count(anon) - before == 8  # five, then three; none of the routed ones
    # The route's answer to the same question, with the fast path out of the way (a
    # token that is never cached): byte for byte the same.
    _, plain = make_stack(postgres_url, token_cache_ttl=0.0, worker=False)
    with plain.client(plain.token("plain", "read")) as p, api.client(reader) as c:
        for params in ({"msisdn": LMT, "consent": "VIETA"},
                       {"msisdn": "+37129000001", "consent": "vieta"},
                       {"msisdn": OTHER, "consent": "METADATI"}):
            _same(c.get("/v1/may-use", params=params), p.get("/v1/may-use", params=params))


def test_what_is_not_the_plain_case_gets_the_routes_answers(
        postgres_url: str, make_stack: Any) -> None:
    _, api = make_stack(postgres_url, token_cache_ttl=60.0)
    reader = api.token("dwh", "read")
    writer_only = api.token("intake", "write")
    with httpx.Client(base_url=api.base) as anon, api.client(reader) as c:
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "AUTO"}).status_code == 200
        before = _fast_count(anon)
        bad = [c.get("/v1/may-use", params=q) for q in (
            {"msisdn": "123", "consent": "VIETA"},  # not a number
            {"msisdn": LMT + "\n", "consent": "VIETA"},  # a newline after it
            {"msisdn": LMT, "consent": "NOPE"},  # not a consent
            {"msisdn": LMT},  # a parameter missing
            {"msisdn": LMT, "consent": "VIETA", "at": "yesterday"})]  # not an instant
        assert [r.status_code for r in bad] == [422, 422, 422, 422, 422]
        assert all(problem(r)["type"] == "urn:lmt-consent:problem:invalid" for r in bad)
        twice = c.get(f"/v1/may-use?msisdn={LMT}&msisdn={OTHER}&consent=VIETA")
        assert twice.status_code == 200  # a repeated parameter: the route reads it its way
        wrong = anon.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                         headers={"Authorization": "Bearer cgw_not-a-token"})
        assert wrong.status_code == 401
        assert anon.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 401
        with api.client(writer_only) as w:
            for _ in range(2):  # cached after the first: still refused for its scope
                r = w.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
                assert r.status_code == 403 and problem(r)["required_scope"] == "read"
        assert _fast_count(anon) == before  # none of these was answered below the route


def test_a_revoked_token_is_refused_once_its_cache_entry_lapses(
        postgres_url: str, make_stack: Any) -> None:
    p, api = make_stack(postgres_url, token_cache_ttl=1.0)
    reader = api.token("gone", "read")
    with api.client(reader) as c:
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 200
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 200
        p.ctl("api-token", "revoke", "gone")
        # Within api.token_cache_ttl (1 s here) of its lookup it may still be served; after
        # that, the route looks it up again and refuses it.
        assert wait_until(lambda: c.get("/v1/may-use", params={
            "msisdn": LMT, "consent": "VIETA"}).status_code == 401, 15)
        r = c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
        assert r.status_code == 401 and problem(r)["type"] == "urn:lmt-consent:problem:unauthorized"


def test_an_address_blocked_for_unknown_tokens_is_refused_even_with_a_cached_valid_one(
        postgres_url: str, make_stack: Any) -> None:
    """A spray of guessed tokens blocks its address on the route; a valid token already in
    the cache must not let the same address past that block by the fast path."""
    _, api = make_stack(postgres_url, token_cache_ttl=60.0, auth_failures_per_minute=3)
    reader = api.token("dwh", "read")
    with api.client(reader) as c, httpx.Client(base_url=api.base) as anon:
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 200
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 200
        guesses = [anon.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                            headers={"Authorization": f"Bearer cgw_guess{i}"}).status_code
                   for i in range(6)]
        assert 429 in guesses, guesses
        before = _fast_count(anon)
        r = c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
        assert r.status_code == 429 and r.headers["retry-after"]
        assert problem(r)["type"] == "urn:lmt-consent:problem:rate-limited"
        assert _fast_count(anon) == before
