"""``PUT /v1/subscribers/{msisdn}`` (issue 28): one directory row as it changes, with the
sync's rules — a new holder is a handover, a number listed as another operator's leaves
LMT — applied by the real worker through the queue; may-use, the feed, the consents
and the console agree; the same body twice changes nothing; the last sync in /metrics."""

from __future__ import annotations

import re

import httpx

from tests.api.conftest import LMT
from tests.support.api import Api, problem
from tests.support.pipeline import Pipeline, wait_until

GIVE = {"action": "give", "channel": "web"}


def give(c: httpx.Client, consent: str, key: str) -> str:
    r = c.post(f"/v1/numbers/{LMT}/consents/{consent}", json=GIVE,
               headers={"Idempotency-Key": key})
    assert r.status_code == 200, r.text
    return str(r.json()["outcome"])


def may_use(c: httpx.Client, consent: str) -> bool:
    r = c.get("/v1/may-use", params={"msisdn": LMT, "consent": consent})
    assert r.status_code == 200, r.text
    return bool(r.json()["allowed"])


def console_page(api: Api, p: Pipeline) -> str:
    password = "directory-agent-pw"
    p.ctl("agent", "add", "anna", "--password-stdin", input_text=password + "\n")
    with httpx.Client(base_url=api.base, timeout=30) as browser:
        form = browser.get("/console/login?lang=en")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None, form.text
        signed = browser.post("/console/login", data={"name": "anna", "password": password,
                                                      "csrf": csrf.group(1)})
        assert signed.status_code in (200, 303), signed.text
        return browser.get(f"/console/numbers/{LMT}").text


def test_put_hands_over_and_leaves_through_the_queue_and_readers_agree(
        stack: tuple[Pipeline, Api]) -> None:
    p, api = stack
    with api.client(api.token("crm", "admin")) as crm, \
            api.client(api.token("web", "read,write")) as web:
        body = {"client_group": "lmt", "independent": True, "holder": "C-1"}
        first = crm.put(f"/v1/subscribers/{LMT}", json=body)
        assert first.status_code == 200, first.text
        assert first.json()["changed"] == [] and first.json()["queued"] == []  # holder known
        assert give(web, "VIETA", "p-1") == "given" and give(web, "JAUNUMI", "p-2") == "given"

        again = crm.put(f"/v1/subscribers/{LMT}", json=body).json()
        assert again["changed"] == [] and again["queued"] == []  # idempotent

        handed = crm.put(f"/v1/subscribers/{LMT}", json={**body, "holder": "C-2"}).json()
        assert handed["changed"] == ["new_holder"]
        assert [q["kind"] for q in handed["queued"]] == ["handover"]
        assert wait_until(lambda: not may_use(web, "VIETA"), 30), p.logs()[-3000:]
        assert not may_use(web, "JAUNUMI")

        assert give(web, "VIETA", "p-3") == "given" and give(web, "JAUNUMI", "p-4") == "given"
        ported = crm.put(f"/v1/subscribers/{LMT}",
                         json={"client_group": "other", "holder": "C-2"}).json()
        assert ported["changed"] == ["changed_group"]
        assert [q["kind"] for q in ported["queued"]] == ["leave"]
        assert ported["subscriber"]["client_group"] == "other"
        assert wait_until(lambda: not may_use(web, "VIETA"), 30), p.logs()[-3000:]
        assert may_use(web, "JAUNUMI")  # open to everyone: stays

        state = crm.get(f"/v1/numbers/{LMT}/consents").json()["consents"]
        assert state["VIETA"]["status"] == "lapsed" and state["VIETA"]["channel"] == "directory"
        assert give(web, "VIETA", "p-5") == "refused_not_lmt_client"
        feed = crm.get("/v1/changes", params={"after": "0"}).json()["changes"]
        mine = [(c["consent"], c["outcome"], c["status"]) for c in feed if c["msisdn"] == LMT]
        assert mine == [("VIETA", "given", "given"), ("JAUNUMI", "given", "given"),
                        ("JAUNUMI", "reset", "withdrawn"), ("VIETA", "reset", "withdrawn"),
                        ("VIETA", "given", "given"), ("JAUNUMI", "given", "given"),
                        ("VIETA", "left", "lapsed")]

        refused = web.put(f"/v1/subscribers/{LMT}", json=body)
        assert refused.status_code == 403 and problem(refused)["required_scope"] == "admin"
        bad = crm.put(f"/v1/subscribers/{LMT}", json={"client_group": "mvno"})
        assert bad.status_code == 422

    page = console_page(api, p)
    assert re.search(r'data-consent="VIETA"><td>VIETA</td><td class="status lapsed"', page)
    assert 'data-outcome="left"' in page


def test_metrics_show_the_last_sync(stack: tuple[Pipeline, Api]) -> None:
    p, api = stack
    (p.workdir / "export.csv").write_text(f"{LMT},lmt,true,C-1\n")
    p.ctl("subscribers", "sync", str(p.workdir / "export.csv"), "--dry-run")
    text = httpx.get(f"{api.base}/metrics", timeout=30).text
    assert 'consent_directory_sync_finished_timestamp_seconds{outcome="dry_run"}' in text
    assert 'consent_directory_sync_rows{kind="left"} 2.0' in text  # OTHER and MINOR
    assert "consent_directory_sync_refused 0.0" in text
