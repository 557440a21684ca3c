"""/metrics and /healthz of the real ``sms-gateway run`` and ``consent-worker run``, bound to
the in-process simulator, each with its own Redis so a test may stop it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from smsc_sim.threaded import SimulatorThread
from tests.support import servers
from tests.support.calendar import away_from_midnight
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.e2e

LMT = "37129000001"
OTHER = "37129000002"


@dataclass
class Stack:
    pipeline: Pipeline
    sim: SimulatorThread
    redis: servers.RedisServer
    gateway_port: int
    worker_port: int

    def gateway(self, path: str) -> tuple[int, str]:
        return _get(self.gateway_port, path)

    def worker(self, path: str) -> tuple[int, str]:
        return _get(self.worker_port, path)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(body) for s in fam.samples}


def value(body: str, name: str, **labels: str) -> float:
    return samples(body).get((name, frozenset(labels.items())), 0.0)


def health(get: Callable[[str], tuple[int, str]], path: str) -> tuple[int, dict[str, Any]]:
    code, body = get(path)
    return code, json.loads(body)


@pytest.fixture
def stack(tmp_path: Path, postgres_url: str) -> Iterator[Stack]:
    rdir = tmp_path / "redis"
    rdir.mkdir()
    rds = servers.RedisServer(dir=rdir)
    rds.start()
    sim = SimulatorThread(port=0).start()
    gw_port, wk_port = servers.free_port(), servers.free_port()
    p = Pipeline(tmp_path, sim.port, rds.url, postgres_url,
                 {"metrics": {"gateway_port": gw_port, "worker_port": wk_port},
                  "redis": {"socket_timeout": 1.0}})
    p.ctl("db", "upgrade")
    csv = tmp_path / "dir.csv"
    csv.write_text(f"msisdn,client_group\n{LMT},lmt\n{OTHER},other\n")
    p.ctl("subscribers", "import", str(csv))
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20), p.logs()[-3000:]
    s = Stack(p, sim, rds, gw_port, wk_port)
    assert wait_until(lambda: _up(s), 20), p.logs()[-3000:]
    yield s
    p.stop()
    sim.stop()
    rds.stop()


def _up(s: Stack) -> bool:
    try:
        return s.gateway("/healthz")[0] == 200 and s.worker("/healthz")[0] == 200
    except OSError:
        return False


def converse(sim: SimulatorThread, msisdn: str, text: str) -> None:
    before = len(sim.replies_for(msisdn))
    sim.send_mo(msisdn, text)
    assert wait_until(lambda: len(sim.replies_for(msisdn)) > before, 15), text


def test_counters_move_with_traffic_on_both_endpoints(stack: Stack) -> None:
    for msisdn, text in ((LMT, "VIETA"), (LMT, "VIETA STOP"), (OTHER, "VIETA"), (LMT, "hello")):
        converse(stack.sim, msisdn, text)

    _, gw = stack.gateway("/metrics")
    assert value(gw, "smsgw_texts_received_total", outcome="queued") == 4

    def answered_all() -> bool:
        # Every deliver_sm was answered 0: the four texts and the receipts for our replies
        # (a receipt is counted on arrival and answered once its update is held in Redis,
        # so the scrape may fall between the two for the last one).
        _, now = stack.gateway("/metrics")
        receipts = value(now, "smsgw_texts_received_total", outcome="receipt")
        return receipts >= 1 and value(now, "smsgw_deliver_sm_resp_total",
                                       status="0x00") == 4 + receipts

    assert wait_until(answered_all, 10)
    _, gw = stack.gateway("/metrics")
    assert value(gw, "smsgw_deliver_sm_resp_total", status="0x64") == 0
    # A reply counts once its submit_sm_resp arrived; the scrape may just precede the last.
    assert wait_until(lambda: value(stack.gateway("/metrics")[1],
                                    "smsgw_reply_latency_seconds_count") == 4, 10)
    _, gw = stack.gateway("/metrics")
    # One submit_sm per part: the help text and some refusals take more than one.
    assert value(gw, "smsgw_submit_sm_total", status="0x00") >= 4
    assert sum(v for (n, labels), v in samples(gw).items()
               if n == "smsgw_submit_sm_total" and ("status", "0x00") not in labels) == 0
    assert value(gw, "smsgw_replies_sent_total") == 4
    assert value(gw, "smsgw_link_bound") == 1
    assert value(gw, "smsgw_link_reconnects_total", result="bound") == 1

    _, wk = stack.worker("/metrics")
    assert value(wk, "smsgw_worker_events_total", outcome="given") == 1
    assert value(wk, "smsgw_worker_events_total", outcome="withdrawn") == 1
    assert value(wk, "smsgw_worker_events_total", outcome="refused_not_lmt_client") == 1
    assert value(wk, "smsgw_worker_events_total", outcome="unknown_command") == 1
    assert value(wk, "smsgw_worker_replies_total", result="queued") == 4
    assert value(wk, "smsgw_worker_job_duration_seconds_count", job="apply_events") >= 1
    assert value(wk, "smsgw_worker_queue_depth", queue="consent-events-0") == 0
    assert ("smsgw_worker_failed_jobs", frozenset({("queue", "consent-events-0")})) in samples(wk)
    assert value(wk, "smsgw_worker_job_failures_total", job="apply_events", next="failed") == 0


def test_healthz_is_200_with_every_check_true_when_bound(stack: Stack) -> None:
    code, body = health(stack.gateway, "/healthz")
    assert code == 200
    assert body == {"ok": True, "smpp_bound": True, "redis": True, "threads": True,
                    "database": True, "replies_flowing": True, "redis_persistent": True}
    code, body = health(stack.worker, "/healthz")
    assert code == 200
    assert body == {"ok": True, "serving": True, "redis": True, "database": True,
                    "redis_persistent": True}


def test_gateway_healthz_is_503_when_the_smsc_link_is_down(stack: Stack) -> None:
    stack.sim.stop()
    assert wait_until(lambda: stack.gateway("/healthz")[0] == 503, 15)
    code, body = health(stack.gateway, "/healthz")
    assert code == 503
    assert body["smpp_bound"] is False and body["redis"] is True and body["ok"] is False
    assert value(stack.gateway("/metrics")[1], "smsgw_link_bound") == 0
    assert stack.worker("/healthz")[0] == 200  # the worker does not need the link


def test_both_healthz_are_503_when_redis_is_stopped(stack: Stack) -> None:
    stack.redis.stop()
    assert wait_until(lambda: stack.gateway("/healthz")[0] == 503, 15)
    assert health(stack.gateway, "/healthz")[1]["redis"] is False
    assert wait_until(lambda: stack.worker("/healthz")[0] == 503, 15)
    assert health(stack.worker, "/healthz")[1]["redis"] is False
    # A scrape still answers; it just lacks the samples that need Redis.
    code, wk = stack.worker("/metrics")
    assert code == 200 and "smsgw_worker_events_total" in wk


def test_both_healthz_are_503_when_the_database_does_not_answer(
        stack: Stack, postgres_admin_url: str) -> None:
    url = sa.engine.make_url(stack.pipeline.database_url)
    name = url.database
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    # Renamed away (after closing its sessions): to the services the database is gone.
    with admin.connect() as conn:
        conn.execute(sa.text("select pg_terminate_backend(pid) from pg_stat_activity "
                             "where datname = :n and pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'alter database "{name}" rename to "{name}_away"'))
    try:
        assert wait_until(lambda: stack.gateway("/healthz")[0] == 503, 15)
        code, body = health(stack.gateway, "/healthz")
        assert code == 503
        assert body["database"] is False and body["smpp_bound"] is True
        assert "database_error" in body and "password" not in body["database_error"]
        assert wait_until(lambda: stack.worker("/healthz")[0] == 503, 15)
        assert health(stack.worker, "/healthz")[1]["database"] is False
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("select pg_terminate_backend(pid) from pg_stat_activity "
                                 "where datname = :n"), {"n": f"{name}_away"})
            conn.execute(sa.text(f'alter database "{name}_away" rename to "{name}"'))
        admin.dispose()
    assert wait_until(lambda: stack.gateway("/healthz")[0] == 200, 20)
    assert wait_until(lambda: stack.worker("/healthz")[0] == 200, 20)


def test_consentctl_status_shows_the_bound_gateway_the_worker_and_todays_texts(
        stack: Stack) -> None:
    away_from_midnight()  # "today" is the machine's: the test must not straddle midnight
    converse(stack.sim, LMT, "VIETA")
    converse(stack.sim, OTHER, "JAUNUMI")
    p = stack.pipeline

    def status() -> dict[str, Any]:
        res = p.ctl("status", "--json", check=False)
        report = dict(json.loads(res.stdout))
        # 0 only when healthy, 7 (degraded) with the reasons listed.
        assert res.returncode == (7 if report["problems"] else 0), res.stderr
        return report

    def reported() -> bool:
        # The gateway refreshes its report every 5 s; on a loaded host the worker's entry
        # was once missing from one look (it had applied both texts).
        r = status()
        return r["last_text_at"] is not None and bool(r["workers"])

    assert wait_until(reported, 15), status()
    r = status()
    [gw] = r["gateways"]
    assert gw["instance"] == p.sections["gateway"]["instance"]
    assert gw["state"] == "bound" and gw["smsc"] == f"127.0.0.1:{stack.sim.port}"
    assert gw["stale"] is False and r["last_text_at"]
    [wk] = r["workers"]
    assert "consent-events-0" in wk["queues"] and wk["jobs_done"] >= 2
    assert r["today"] == {"VIETA": {"give": 1}, "JAUNUMI": {"give": 1}}
    text = p.ctl("status", check=False).stdout
    [row] = [line.split() for line in text.splitlines() if gw["instance"] in line]
    assert row[:3] == [gw["instance"], "bound", f"127.0.0.1:{stack.sim.port}"]
    assert "Last text received: " + r["last_text_at"] in text
    assert r["problems"] == [] and "Health: ok" in text

    stack.sim.stop()
    assert wait_until(lambda: status()["gateways"][0]["state"] in ("down", "binding"), 15)
    assert any("SMPP link" in line for line in status()["problems"])
