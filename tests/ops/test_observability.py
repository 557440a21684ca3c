"""The Grafana dashboard and Prometheus alert rules in ops/ name only metrics the real
processes export (scraped from a running gateway and worker), the rules pass
``promtool check rules`` where promtool is installed, and the worker's Redis-read metrics
(backlog age, persistence) say what they claim."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from rq.serializers import JSONSerializer

from consent_core.clock import FixedClock
from tests.ops.test_metrics import Stack, converse, stack  # noqa: F401 - the fixture
from tests.support import servers
from workers.health import QueueCollector

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "sms-consent-gateway.json"
RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
METRIC = re.compile(r"\bsmsgw_[a-z0-9_]+")
# Series Prometheus makes itself, not the processes.
PROMETHEUS_OWN = {"up"}


def dashboard_exprs() -> list[str]:
    data = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    data = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in data["groups"] for r in g["rules"]]


def exported(body: str) -> set[str]:
    """Every series name a scrape offers, including ones with no sample yet (a labelled
    counter nobody has incremented is still declared by HELP/TYPE)."""
    names: set[str] = set()
    for fam in text_string_to_metric_families(body):
        names.add(fam.name)
        suffixes = {"counter": ["_total", "_created"],
                    "histogram": ["_bucket", "_count", "_sum", "_created"]}.get(fam.type, [])
        names.update(fam.name + s for s in suffixes)
        names.update(s.name for s in fam.samples)
    return names


def test_dashboard_and_rules_name_only_exported_metrics(stack: Stack) -> None:  # noqa: F811
    converse(stack.sim, "37129000001", "VIETA")  # some traffic, so label sets exist too
    names = exported(stack.gateway("/metrics")[1]) | exported(stack.worker("/metrics")[1])
    used = {m for expr in dashboard_exprs() + rule_exprs() for m in METRIC.findall(expr)}
    assert len(used) >= 15  # the panels and rules really name metrics
    missing = sorted(used - names)
    assert missing == [], f"named in ops/ but not exported by any process: {missing}"
    # And the issue's list is covered: link, texts, queues, backlog age, latency, replies,
    # receipts, failed jobs, persistence.
    for needed in ("smsgw_link_bound", "smsgw_texts_received_total", "smsgw_deliver_sm_resp_total",
                   "smsgw_worker_queue_depth", "smsgw_worker_queue_oldest_age_seconds",
                   "smsgw_worker_job_duration_seconds_bucket", "smsgw_submit_sm_total",
                   "smsgw_replies_sent_total", "smsgw_throttle_events_total",
                   "smsgw_worker_receipts_total", "smsgw_worker_failed_jobs",
                   "smsgw_redis_aof_enabled"):
        assert needed in used, needed


def test_every_alert_of_the_issue_is_there() -> None:
    names = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert {"SmppLinkDown", "BacklogGrowing", "BacklogOld", "FailedJobs",
            "RepliesDueNoneAccepted", "RedisWithoutPersistence", "ShardWithoutWorker",
            "BacklogAtBound"} <= names
    other = {m for e in rule_exprs() for m in re.findall(r"\b(up)\{", e)}
    assert other <= PROMETHEUS_OWN


def _promtool() -> str | None:
    """On PATH, or where `make test` puts it (scripts/need-promtool.sh)."""
    beside = Path(sys.executable).parent / "promtool"
    return shutil.which("promtool") or (str(beside) if beside.exists() else None)


@pytest.mark.skipif(_promtool() is None, reason="promtool not installed: `make test` takes it "
                    "from Debian's prometheus package (scripts/need-promtool.sh)")
def test_promtool_accepts_the_rules() -> None:
    promtool = _promtool()
    assert promtool is not None
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
    # And they fire on synthetic series (and stay quiet before their `for`).
    tests = RULES.with_name("alerts.test.yml")
    out = subprocess.run([promtool, "test", "rules", tests.name], capture_output=True,
                         text=True, timeout=60, cwd=tests.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def test_backlog_age_and_persistence_read_from_redis(tmp_path: Path) -> None:
    rdir = tmp_path / "r"
    rdir.mkdir()
    rds = servers.RedisServer(dir=rdir, appendonly=False)
    rds.start()
    try:
        client = redis.Redis.from_url(rds.url)
        q = Queue("consent-events-0", connection=client, serializer=JSONSerializer)
        job = q.enqueue("workers.jobs.apply_events", [])
        enqueued = datetime(2026, 11, 24, 20, 0, 0, tzinfo=UTC)
        client.hset(f"rq:job:{job.id}", "enqueued_at", "2026-11-24T20:00:00.000000Z")
        collector = QueueCollector(client, ["consent-events-0", "consent-events-1"],
                                   clock=FixedClock(enqueued + timedelta(seconds=42)))
        got = {(s.name, tuple(s.labels.values())): s.value
               for fam in collector.collect() for s in fam.samples}
        assert got[("smsgw_worker_queue_oldest_age_seconds", ("consent-events-0",))] == 42
        assert got[("smsgw_worker_queue_oldest_age_seconds", ("consent-events-1",))] == 0
        assert got[("smsgw_worker_queue_depth", ("consent-events-0",))] == 1
        assert got[("smsgw_redis_aof_enabled", ())] == 0  # this Redis runs appendonly no
        client.config_set("appendonly", "yes")
        got = {s.name: s.value for fam in collector.collect() for s in fam.samples
               if not s.labels}
        assert got["smsgw_redis_aof_enabled"] == 1 and got["smsgw_redis_persistence_ok"] == 1
        client.close()
    finally:
        rds.stop()
