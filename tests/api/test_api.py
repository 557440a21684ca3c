"""Every /v1 endpoint over real HTTP: ``consent-api run`` against a real worker, Redis and
PostgreSQL (the main flow also on SQLite). Outcomes are what the SMS path would decide."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from consent_store.timeutil import iso
from tests.api.conftest import LMT, MINOR, OTHER
from tests.support.api import Api, problem
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.e2e

GIVE = {"action": "give", "channel": "web"}
WITHDRAW = {"action": "withdraw", "channel": "web"}
UNKNOWN = "37129999999"  # neither in the directory nor in the ledger


def post(c: httpx.Client, msisdn: str, consent: str, body: dict[str, Any],
         key: str) -> httpx.Response:
    return c.post(f"/v1/numbers/{msisdn}/consents/{consent}", json=body,
                  headers={"Idempotency-Key": key})


def ledger(c: httpx.Client, msisdn: str) -> list[dict[str, Any]]:
    r = c.get(f"/v1/numbers/{msisdn}/history")
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_web_self_service_gives_reads_and_withdraws_like_the_sms_path(
        db: str, request: pytest.FixtureRequest, make_stack: Any) -> None:
    url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "postgres_url")
    _, api = make_stack(url)
    with api.client(api.token("web", "read,write")) as c:
        r = post(c, LMT, "vieta", GIVE, "k-1")
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "given" and r.json()["state"] == "applied"
        assert post(c, LMT, "VIETA", GIVE, "k-2").json()["outcome"] == "already_given"
        assert post(c, OTHER, "VIETA", GIVE, "k-3").json()["outcome"] == "refused_not_lmt_client"
        assert post(c, MINOR, "JAUNUMI", GIVE, "k-4").json()["outcome"] == \
            "refused_not_independent"

        state = c.get(f"/v1/numbers/{LMT}/consents").json()
        assert list(state["consents"]) == ["JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"]
        assert state["consents"]["VIETA"]["status"] == "given"
        assert state["consents"]["VIETA"]["channel"] == "web"
        given_at = state["consents"]["VIETA"]["since"]

        assert post(c, LMT, "VIETA", WITHDRAW, "k-5").json()["outcome"] == "withdrawn"
        assert c.get(f"/v1/numbers/{LMT}/consents").json()["consents"]["VIETA"]["status"] \
            == "withdrawn"
        # As it stood right after the give:
        then = c.get(f"/v1/numbers/{LMT}/consents", params={"at": given_at}).json()
        assert then["consents"]["VIETA"]["status"] == "given"

        events = ledger(c, LMT)
        assert [(e["outcome"], e["channel"]) for e in events] == [
            ("given", "web"), ("already_given", "web"), ("withdrawn", "web")]
        assert all(e["reply_text"] is None for e in events)  # no SMS for a web change

        export = c.get(f"/v1/numbers/{LMT}/export").json()
        assert export["msisdn"] == LMT and len(export["history"]) == 3


def test_idempotency_key_same_body_same_answer_other_body_409(stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("web", "read,write")) as c:
        first = post(c, LMT, "AUTO", GIVE, "order-77")
        again = post(c, LMT, "AUTO", GIVE, "order-77")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert len(ledger(c, LMT)) == 1  # applied once

        other = post(c, LMT, "AUTO", WITHDRAW, "order-77")
        assert other.status_code == 409
        assert problem(other)["type"] == "urn:lmt-consent:problem:conflict"

        missing = c.post(f"/v1/numbers/{LMT}/consents/AUTO", json=GIVE)
        assert missing.status_code == 400 and "Idempotency-Key" in problem(missing)["detail"]
        # Another token's identical key is its own request.
    with api.client(api.token("web2", "read,write")) as c2:
        assert post(c2, LMT, "AUTO", WITHDRAW, "order-77").json()["outcome"] == "withdrawn"
        metrics = c2.get("/metrics").text
        assert "consent_api_idempotent_replays_total 1.0" in metrics


def test_bad_requests_answer_problem_json_with_a_stable_type(stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("web", "read,write")) as c:
        cases = [
            (c.get("/v1/numbers/12ab/consents"), 422, "invalid"),
            (c.get(f"/v1/numbers/{UNKNOWN}/consents"), 404, "not-found"),
            (c.get(f"/v1/numbers/{UNKNOWN}/history"), 404, "not-found"),
            (c.get(f"/v1/numbers/{UNKNOWN}/export"), 404, "not-found"),
            (c.get(f"/v1/numbers/{LMT}/consents", params={"at": "yesterday"}), 422, "invalid"),
            (c.get(f"/v1/numbers/{LMT}/consents", params={"at": "2999-01-01T00:00:00Z"}),
             422, "invalid"),
            (post(c, LMT, "PIZZA", GIVE, "b-1"), 422, "invalid"),
            (post(c, LMT, "VIETA", {"action": "give", "channel": "sms"}, "b-2"), 422, "invalid"),
            (post(c, LMT, "VIETA", {"action": "maybe", "channel": "web"}, "b-3"), 422, "invalid"),
            (post(c, LMT, "VIETA", {**GIVE, "colour": "red"}, "b-4"), 422, "invalid"),
            (post(c, LMT, "VIETA", {"action": "give", "channel": "customer_centre",
                                    "on_behalf": "guardian"}, "b-5"), 422,
             "guardian-not-applicable"),
            (c.post(f"/v1/numbers/{LMT}/contacts", json={"channel": "fax"}), 422, "invalid"),
            (c.post(f"/v1/numbers/{LMT}/contacts",
                    json={"channel": "call", "at": "2999-01-01T00:00:00Z"}), 422, "invalid"),
            (c.get("/v1/changes", params={"after": "soon"}), 422, "invalid"),
            (c.get("/v1/nothing-here"), 404, "not-found"),
            (c.post(f"/v1/numbers/{LMT}/consents/VIETA", content=b"{not json",
                    headers={"Idempotency-Key": "b-6", "Content-Type": "application/json"}),
             422, "invalid"),
        ]
        for response, status, slug in cases:
            assert response.status_code == status, (response.request.url, response.text)
            body = problem(response)
            assert body["type"] == f"urn:lmt-consent:problem:{slug}"
            assert body["status"] == status and body["detail"]
        # None of the refused changes reached the ledger (b-5 was refused before queueing).
        assert c.get(f"/v1/numbers/{LMT}/history").status_code == 404
        # agent, reference and the reason are fields of the ledger row
        r = post(c, LMT, "VIETA", {"action": "give", "channel": "customer_centre",
                                   "agent": "anna", "reference": "CASE-9",
                                   "reason": "paper form"}, "b-7")
        assert r.json()["outcome"] == "given"
        [row] = ledger(c, LMT)
        assert (row["agent"], row["reference"], row["note"]) == ("anna", "CASE-9", "paper form")


def test_guardian_back_dated_change_and_contact_reach_the_store(
        stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("cc", "read,write")) as c:
        # Seed rule 5: a guardian acts for the minor's line at a customer centre.
        r = post(c, MINOR, "JAUNUMI", {"action": "give", "channel": "customer_centre",
                                       "on_behalf": "guardian", "agent": "anna"}, "g-1")
        assert r.status_code == 200 and r.json()["outcome"] == "given", r.text
        [row] = ledger(c, MINOR)
        assert (row["on_behalf"], row["agent"]) == ("guardian", "anna")
        # A paper form signed earlier: recorded at when it was made, entered now.
        signed = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
        r = post(c, LMT, "AUTO", {"action": "give", "channel": "customer_centre",
                                  "at": iso(signed)}, "g-2")
        assert r.json()["outcome"] == "given", r.text
        [row] = [e for e in ledger(c, LMT) if e["consent"] == "AUTO"]
        assert row["received_at"] == iso(signed) and row["entered_at"] > row["received_at"]
        # A call reported by LMT's systems (seed rule 4: restarts JAUNUMI's period).
        r = c.post(f"/v1/numbers/{LMT}/contacts", json={"channel": "call", "note": "billing"})
        assert r.status_code == 201, r.text
        assert r.json()["channel"] == "call" and r.json()["note"] == "billing"
        exported = c.get(f"/v1/numbers/{LMT}/export").json()
        assert [x["channel"] for x in exported["contacts"]] == ["call"]


def test_tokens_scopes_401_403_and_revocation(stack: tuple[Pipeline, Api]) -> None:
    p, api = stack
    reader = api.token("dwh", "read")
    with api.client() as anon:
        r = anon.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert problem(r)["type"] == "urn:lmt-consent:problem:unauthorized"
        r = anon.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                     headers={"Authorization": "Bearer cgw_not-a-token"})
        assert r.status_code == 401
        assert anon.get("/healthz").status_code == 200  # probes need no token
    with api.client(reader) as c:
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 200
        r = post(c, LMT, "VIETA", GIVE, "s-1")
        assert r.status_code == 403 and problem(r)["required_scope"] == "write"
        r = c.post(f"/v1/numbers/{LMT}/reset", json={"reason": "new holder"})
        assert r.status_code == 403
    listed = json.loads(p.ctl("api-token", "list", "--json").stdout)
    assert [(t["name"], t["scopes"]) for t in listed] == [("dwh", ["read"])]
    assert reader not in p.ctl("api-token", "list").stdout  # secrets are never shown again
    p.ctl("api-token", "revoke", "dwh")
    with api.client(reader) as c:
        # token_cache_ttl is 0 in this stack: revocation is immediate
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}).status_code == 401
    assert p.ctl("api-token", "revoke", "dwh", check=False).returncode == 1
    bad = p.ctl("api-token", "create", "x", "--scopes", "read,root", check=False)
    assert bad.returncode == 2 and "root" in bad.stderr

    with api.client() as anon:
        page = anon.get("/metrics").text
    for line in ('consent_api_auth_failures_total{reason="missing"} 1.0',
                 'consent_api_auth_failures_total{reason="invalid"} 2.0',
                 'consent_api_auth_failures_total{reason="scope"} 2.0',
                 'consent_api_requests_total{method="GET",route="/v1/may-use",status="200"} 1.0',
                 'consent_api_requests_total{method="GET",route="/v1/may-use",status="401"} 3.0',
                 'consent_api_requests_total{method="POST",route="/v1/numbers/{msisdn}/reset",'
                 'status="403"} 1.0'):
        assert line in page, line
    assert 'consent_api_request_duration_seconds_bucket{le="0.005",route="/v1/may-use"}' in page


@pytest.fixture
def stack(postgres_url: str, make_stack: Any) -> tuple[Pipeline, Api]:
    return make_stack(postgres_url, token_cache_ttl=0.0)  # type: ignore[no-any-return]


def test_rate_limit_answers_429_with_retry_after(postgres_url: str, make_stack: Any) -> None:
    _, api = make_stack(postgres_url, rate_per_second=5)
    with api.client(api.token("busy", "read")) as c:
        codes = [c.get("/v1/may-use", params={"msisdn": LMT, "consent": "AUTO"})
                 for _ in range(12)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited, [r.status_code for r in codes]
        assert limited[0].headers["retry-after"] == "1"
        assert problem(limited[0])["type"] == "urn:lmt-consent:problem:rate-limited"
        assert all(r.status_code in (200, 429) for r in codes)
        time.sleep(1.1)
        assert c.get("/v1/may-use", params={"msisdn": LMT, "consent": "AUTO"}).status_code == 200


def test_may_use_single_and_bulk(stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("web", "read,write")) as c:
        post(c, LMT, "JAUNUMI", GIVE, "m-1")
        one = c.get("/v1/may-use", params={"msisdn": "+37129000001", "consent": "jaunumi"})
        assert one.json()["allowed"] is True and one.json()["status"] == "given"
        assert one.json()["since"]
        since = one.json()["since"]
        post(c, LMT, "JAUNUMI", WITHDRAW, "m-2")
        no = c.get("/v1/may-use", params={"msisdn": LMT, "consent": "JAUNUMI"}).json()
        assert no["allowed"] is False and no["status"] == "withdrawn"
        was = c.get("/v1/may-use", params={"msisdn": LMT, "consent": "JAUNUMI", "at": since})
        assert was.json()["allowed"] is True

        queries = [{"msisdn": LMT, "consent": "JAUNUMI"}, {"msisdn": OTHER, "consent": "AUTO"},
                   {"msisdn": LMT, "consent": "JAUNUMI", "at": since}]
        queries += [{"msisdn": f"3712{i:07d}", "consent": "VIETA"} for i in range(997)]
        r = c.post("/v1/may-use", json={"queries": queries})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == 1000
        assert [x["allowed"] for x in results[:3]] == [False, False, True]
        assert results[1]["status"] == "none"
        assert all(not x["allowed"] for x in results[3:])

        too_many = c.post("/v1/may-use", json={"queries": queries + queries[:1]})
        assert too_many.status_code == 422 and problem(too_many)["limit"] == 1000
        bad = c.post("/v1/may-use", json={"queries": [{"msisdn": LMT, "consent": "X"}]})
        assert bad.status_code == 422 and problem(bad)["index"] == 0


def test_changes_feed_orders_every_state_change_and_long_polls(
        stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("web", "read,write")) as c:
        post(c, LMT, "VIETA", GIVE, "f-1")
        post(c, LMT, "VIETA", GIVE, "f-2")  # already_given: no state change
        post(c, OTHER, "JAUNUMI", GIVE, "f-3")
        page = c.get("/v1/changes", params={"after": "0"}).json()
        assert [(x["msisdn"], x["consent"], x["status"]) for x in page["changes"]] == [
            (LMT, "VIETA", "given"), (OTHER, "JAUNUMI", "given")]
        positions = [x["position"] for x in page["changes"]]
        assert positions == sorted(positions)
        cursor = page["next"]
        assert c.get("/v1/changes", params={"after": cursor}).json()["changes"] == []
        assert c.get("/v1/changes", params={"after": "latest"}).json()["next"] == cursor

        got: dict[str, Any] = {}
        writer = api.token("web2", "write")

        def follow() -> None:
            got["page"] = c.get("/v1/changes", params={"after": cursor, "wait": 20}).json()
            got["returned_at"] = time.monotonic()

        t = threading.Thread(target=follow)
        t.start()
        time.sleep(1.0)
        with api.client(writer) as w:
            assert post(w, LMT, "VIETA", WITHDRAW, "f-4").json()["outcome"] == "withdrawn"
        applied_at = time.monotonic()
        t.join(25)
        assert [(x["msisdn"], x["status"]) for x in got["page"]["changes"]] == [
            (LMT, "withdrawn")]
        # learned within about a second of the withdrawal being applied (the feed looks
        # every 0.2 s), not at the end of the 20 s wait
        assert got["returned_at"] - applied_at < 3


def test_worker_down_answers_202_with_status_url_then_applies(
        postgres_url: str, make_stack: Any) -> None:
    p, api = make_stack(postgres_url, worker=False, change_wait=1.0)
    with api.client(api.token("web", "read,write")) as c:
        health = c.get("/healthz")
        assert health.status_code == 503 and health.json()["workers"]["ok"] is False
        r = post(c, LMT, "SADARBIBA", GIVE, "w-1")
        assert r.status_code == 202, r.text
        url = r.headers["location"]
        assert r.json() == {"state": "queued", "event_id": r.json()["event_id"],
                            "status_url": url}
        assert c.get(url).json()["state"] == "queued"
        again = post(c, LMT, "SADARBIBA", GIVE, "w-1")  # a client retrying while it waits
        assert again.status_code == 202
        p.worker()
        assert wait_until(lambda: c.get(url).json()["state"] == "applied", 30), p.logs()[-2000:]
        assert c.get(url).json()["outcome"] == "given"
        assert len(ledger(c, LMT)) == 1
        assert post(c, LMT, "SADARBIBA", GIVE, "w-1").json()["outcome"] == "given"
        assert c.get("/v1/events/api-unknown").status_code == 404
        assert wait_until(lambda: c.get("/healthz").status_code == 200, 15)


def test_reset_needs_admin_and_withdraws_everything(stack: tuple[Pipeline, Api]) -> None:
    _, api = stack
    with api.client(api.token("web", "read,write")) as c:
        post(c, LMT, "VIETA", GIVE, "r-1")
        post(c, LMT, "AUTO", GIVE, "r-2")
    with api.client(api.token("ops", "admin")) as admin:
        r = admin.post(f"/v1/numbers/{LMT}/reset", json={"reason": "number handed over"})
        assert r.status_code == 200, r.text
        assert sorted(r.json()["withdrawn"]) == ["AUTO", "VIETA"]
        state = admin.get(f"/v1/numbers/{LMT}/consents").json()["consents"]
        assert {k: v["status"] for k, v in state.items() if v["status"] != "none"} == {
            "AUTO": "withdrawn", "VIETA": "withdrawn"}
        # The new holder's history starts empty; the audit shows every holder's events.
        assert admin.get(f"/v1/numbers/{LMT}/history").status_code == 404
        r_all = admin.get(f"/v1/numbers/{LMT}/history", params={"all_holders": "true"})
    with api.client(api.token("dwh", "read")) as reader:
        refused = reader.get(f"/v1/numbers/{LMT}/history", params={"all_holders": "true"})
        assert refused.status_code == 403 and problem(refused)["required_scope"] == "admin"
    with api.client(api.token("ops2", "admin")) as admin:
        events = r_all.json()["events"]
        assert [e["outcome"] for e in events] == ["given", "given", "reset", "reset"]
        assert all("api ops" in e["reason"] for e in events[2:])
        # Through the queue like every change: the status URL knows it too.
        status = admin.get(f"/v1/events/{r.json()['event_id']}").json()
        assert status["outcome"] == "reset" and sorted(status["withdrawn"]) == ["AUTO", "VIETA"]
        missing = admin.post(f"/v1/numbers/{UNKNOWN}/reset", json={"reason": "x"})
        assert missing.status_code == 404 and problem(missing)["type"].endswith("not-found")


def test_config_errors_are_one_line(tmp_path: Any) -> None:
    import os
    import subprocess

    from tests.support.pipeline import BIN, write_config

    cfg = write_config(tmp_path / "bad.toml", {"api": {"port": 70000}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    out = subprocess.run([str(BIN / "consent-api"), "--config", str(cfg), "run"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "api.port" in out.stderr
    good = write_config(tmp_path / "good.toml", {"api": {"port": 8080}})
    env["SMSGW_API__CHANGE_WAIT"] = "lots"
    out = subprocess.run([str(BIN / "consent-api"), "--config", str(good), "run"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "SMSGW_API__CHANGE_WAIT" in out.stderr
