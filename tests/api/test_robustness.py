"""What an attacker or a strict client meets at the API, over real HTTP against
``consent-api run``, a real worker, PostgreSQL and a Redis of the test's own (stopped at
the end): every error is one problem+json 4xx/5xx, never a traceback; bodies are capped
before parsing; unknown tokens are throttled per source address; OPTIONS tells every
method of a path; Redis down is a 503 with Retry-After."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smsc_sim.threaded import SimulatorThread
from tests.api.conftest import LMT, import_directory
from tests.support.api import Api, problem, start_api
from tests.support.pipeline import Pipelines
from tests.support.servers import RedisServer, free_port, new_tempdir

pytestmark = pytest.mark.e2e
FAILURES_PER_MINUTE = 5
BODY_CAP = 64 * 1024


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    srv = RedisServer(dir=new_tempdir("smsgw-api-redis-"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def api(tmp_path: Path, sim: SimulatorThread, own_redis: RedisServer,
        postgres_url: str) -> Iterator[Api]:
    pipelines = Pipelines(tmp_path, sim.port)
    p = pipelines.make(own_redis.url, postgres_url, {"api": {
        "host": "127.0.0.1", "port": free_port(), "change_wait": 5.0,
        "auth_failures_per_minute": FAILURES_PER_MINUTE, "max_body_bytes": BODY_CAP}})
    import_directory(p, tmp_path)
    p.worker()
    yield start_api(p)
    pipelines.stop()


def from_address(api: Api, address: str, token: str | None = None) -> httpx.Client:
    """A client whose requests come from ``address`` (any 127.x.y.z is this host)."""
    return api.client(token, transport=httpx.HTTPTransport(local_address=address))


def refused(response: httpx.Response, status: int, slug: str) -> dict[str, object]:
    assert response.status_code == status, (response.request.url, response.text[:300])
    body = problem(response)
    assert body["type"] == f"urn:lmt-consent:problem:{slug}", body
    assert "Traceback" not in response.text
    return body


def test_hostile_and_out_of_range_requests_get_problems_never_a_500(
        api: Api, own_redis: RedisServer) -> None:
    token = api.token("strict", "read,write")
    with api.client(token) as c:
        change = c.post(f"/v1/numbers/{LMT}/consents/VIETA", json={"action": "give",
                        "channel": "web"}, headers={"Idempotency-Key": "r-1"})
        assert change.json()["outcome"] == "given"

        # Cursors beyond any ledger position, and digits that are not ASCII digits.
        for after in ("99999999999999999999", "9223372036854775808", "²", "-1", "1e3"):
            body = refused(c.get("/v1/changes", params={"after": after}), 422, "invalid")
            assert body["field"] == "after"
        refused(c.get("/v1/changes", params={"wait": "nan"}), 422, "invalid")
        refused(c.get("/v1/changes", params={"limit": "100000"}), 422, "invalid")

        # Instants with no UTC form, and a plain number, which is not an instant.
        for at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "-309", "1700000000"):
            q = {"at": at}
            refused(c.get(f"/v1/numbers/{LMT}/consents", params=q), 422, "invalid")
            refused(c.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA", **q}),
                    422, "invalid")
            bulk = c.post("/v1/may-use", json={"queries": [
                {"msisdn": LMT, "consent": "VIETA"}, {"msisdn": LMT, "consent": "VIETA", "at": at}]})
            assert refused(bulk, 422, "invalid")["index"] == 1
            refused(c.post(f"/v1/numbers/{LMT}/contacts", json={"channel": "call", "at": at}),
                    422, "invalid")
            refused(c.post(f"/v1/numbers/{LMT}/consents/AUTO", json={
                "action": "give", "channel": "web", "at": at},
                headers={"Idempotency-Key": f"r-{uuid.uuid4()}"}), 422, "invalid")
        as_number = c.post("/v1/may-use", json={"queries": [
            {"msisdn": LMT, "consent": "VIETA", "at": -309}]})
        refused(as_number, 422, "invalid")

        # A body over the cap: refused before it is read, with or without a token.
        big = b'{"queries": [' + b" " * (BODY_CAP * 4) + b"]}"
        refused(c.post("/v1/may-use", content=big,
                       headers={"content-type": "application/json"}), 413, "too-large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"queries": ['
            for _ in range(16):
                yield b" " * (BODY_CAP // 4)
            yield b"]}"

        refused(c.post("/v1/may-use", content=chunks(),
                       headers={"content-type": "application/json"}), 413, "too-large")

        # OPTIONS and 405 name every method the path has.
        options = c.options("/v1/may-use")
        assert options.status_code == 204 and options.headers["allow"] == "GET, OPTIONS, POST"
        put = refused(c.put("/v1/may-use"), 405, "method-not-allowed")
        assert put["status"] == 405
        assert c.put("/v1/may-use").headers["allow"] == "GET, OPTIONS, POST"
        refused(c.options("/v1/no-such-thing"), 404, "not-found")
        assert c.get(f"/v1/numbers/{LMT}/contacts").headers["allow"] == "OPTIONS, POST"

    with api.client() as anonymous:
        # The document says what the API does: who may call, what errors look like.
        doc = anonymous.get("/openapi.json").json()
        assert doc["components"]["securitySchemes"]["bearer"] == {
            **doc["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
        change = doc["paths"]["/v1/numbers/{msisdn}/consents/{consent}"]["post"]
        assert change["security"] == [{"bearer": []}]
        for status in ("400", "401", "403", "409", "413", "422", "429", "503"):
            assert "application/problem+json" in change["responses"][status]["content"], status
        assert "Retry-After" in change["responses"]["503"]["headers"]
        [key] = [p for p in change["parameters"] if p["name"].lower() == "idempotency-key"]
        assert key["required"] is True
        assert "201" in doc["paths"]["/v1/numbers/{msisdn}/contacts"]["post"]["responses"]
        feed = {p["name"]: p["schema"] for p in doc["paths"]["/v1/changes"]["get"]["parameters"]}
        assert feed["after"]["pattern"] and feed["limit"]["anyOf"][0]["maximum"] == 10000

        refused(anonymous.post("/v1/may-use", content=big,
                               headers={"content-type": "application/json"}), 413, "too-large")

    # Unknown tokens from one address: 401 up to the budget, then 429 for that address
    # (whatever token it tries next); another address's good token is not affected.
    with from_address(api, "127.0.0.2") as stranger:
        statuses = []
        for _ in range(FAILURES_PER_MINUTE + 3):
            r = stranger.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                             headers={"Authorization": f"Bearer cgw_{uuid.uuid4().hex}"})
            statuses.append(r.status_code)
            assert problem(r)["status"] == r.status_code
        assert statuses == [401] * FAILURES_PER_MINUTE + [429] * 3
        assert 1 <= int(r.headers["retry-after"]) <= 60
        blocked = stranger.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                               headers={"Authorization": f"Bearer {token}"})
        refused(blocked, 429, "rate-limited")
    # One unknown token over and over (its refusal is held in the token cache): each try
    # is still a failure of the address, which is refused once over its budget.
    with from_address(api, "127.0.0.3") as sprayer:
        again = {"Authorization": f"Bearer cgw_{uuid.uuid4().hex}"}
        statuses = [sprayer.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"},
                                headers=again).status_code
                    for _ in range(FAILURES_PER_MINUTE + 2)]
        assert statuses == [401] * FAILURES_PER_MINUTE + [429] * 2
    with from_address(api, "127.0.0.1", token) as agent:
        ok = agent.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
        assert ok.status_code == 200 and ok.json()["allowed"] is True

        # Redis stopped: the reads that need it answer 503 unavailable with Retry-After.
        # A token's requests are added to its shared rate count 10 at a time (200/s // 20,
        # consent_api/throttle.py TokenRates): up to 9 more may be admitted on the
        # process's own count; from the first that finds Redis away, every one is refused.
        own_redis.stop()
        codes = [agent.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"})
                 .status_code for _ in range(10)]
        assert 503 in codes, codes
        assert set(codes[codes.index(503):]) == {503} and set(codes) <= {200, 503}, codes
        for r in (agent.get("/v1/may-use", params={"msisdn": LMT, "consent": "VIETA"}),
                  agent.get("/v1/changes", params={"after": "0"}),
                  agent.post(f"/v1/numbers/{LMT}/consents/VIETA",
                             json={"action": "withdraw", "channel": "web"},
                             headers={"Idempotency-Key": "r-down"})):
            refused(r, 503, "unavailable")
            assert int(r.headers["retry-after"]) > 0
