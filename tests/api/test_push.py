"""Webhooks and audiences through the real processes: a change given and withdrawn over
the API (queue → worker → store) reaches a webhook receiver via ``consent-webhooks run``,
signed so that the ``standardwebhooks`` library's own ``verify`` accepts it; the audience
of a consent streams as NDJSON and CSV with the feed position it is consistent with."""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.api.conftest import LMT, OTHER
from tests.api.test_api import GIVE, WITHDRAW, post
from tests.support.api import Api, problem
from tests.support.pipeline import BIN, Pipeline, Proc

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    got: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got.put(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_a_withdrawal_is_pushed_signed_to_a_webhook_and_an_audience_streams_with_its_position(
        stack: tuple[Pipeline, Api],
        receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]) -> None:
    p, api = stack
    url, got = receiver
    with api.client(api.token("reader", "read")) as reader:
        refused = reader.post("/v1/webhooks", json={"url": url})
        assert refused.status_code == 403
        assert problem(refused)["required_scope"] == "admin"
    with api.client(api.token("ops", "admin")) as admin:
        r = admin.post("/v1/webhooks", json={"url": url, "consents": ["VIETA"]})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        assert secret.startswith("whsec_")
        assert "secret" not in admin.get("/v1/webhooks").json()["webhooks"][0]
        proc = Proc("webhooks", [str(BIN / "consent-webhooks"), "run"], p.env,
                    p.workdir / "webhooks.log")
        p.procs.append(proc)
        proc.start()
        assert post(admin, LMT, "VIETA", GIVE, "push-1").json()["outcome"] == "given"
        assert post(admin, LMT, "JAUNUMI", GIVE, "push-2").json()["outcome"] == "given"
        assert post(admin, LMT, "VIETA", WITHDRAW, "push-3").json()["outcome"] == "withdrawn"
        events = []
        for _ in range(2):
            headers, body = got.get(timeout=30)
            events.append(Webhook(secret).verify(body, headers))  # raises unless signed right
    assert [(e["type"], e["data"]["msisdn"], e["data"]["consent"]) for e in events] == [
        ("consent.given", LMT, "VIETA"), ("consent.withdrawn", LMT, "VIETA")]
    assert events[0]["data"]["position"] < events[1]["data"]["position"]
    assert got.empty(), "JAUNUMI was sent to a VIETA-only subscription"

    # The same stack (one start-up for both): the audience of a consent.
    with api.client(api.token("crm", "read,write")) as c:
        post(c, OTHER, "JAUNUMI", GIVE, "aud-2")
        post(c, OTHER, "JAUNUMI", WITHDRAW, "aud-3")
        post(c, LMT, "AUTO", GIVE, "aud-4")
        latest = c.get("/v1/changes", params={"after": "latest"}).json()["next"]
        r = c.get("/v1/audiences/jaunumi")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["feed-position"] == latest
        rows = [json.loads(line) for line in r.text.splitlines()]
        assert [(x["msisdn"], x["position"]) for x in rows] == [(LMT, int(latest))]
        r = c.get("/v1/audiences/JAUNUMI", headers={"Accept": "text/csv"})
        assert r.headers["content-type"].startswith("text/csv")
        assert [x["msisdn"] for x in csv.DictReader(io.StringIO(r.text))] == [LMT]
        since = rows[0]["since"]
        r = c.get("/v1/audiences/JAUNUMI", params={"at": since})
        assert sorted(json.loads(x)["msisdn"] for x in r.text.splitlines()) == [LMT]
        assert problem(c.get("/v1/audiences/NOPE"))["type"] == "urn:lmt-consent:problem:invalid"
