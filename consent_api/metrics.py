"""What ``/metrics`` shows about the API (Prometheus text format)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("consent_api_requests_total", "HTTP requests, by route, method and status",
                   ["route", "method", "status"], registry=REGISTRY)
LATENCY = Histogram("consent_api_request_duration_seconds", "time to answer, by route",
                    ["route"], registry=REGISTRY,
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             5, 10, 30))
REPLAYS = Counter("consent_api_idempotent_replays_total",
                  "POSTs answered from an earlier request with the same Idempotency-Key",
                  registry=REGISTRY)
AUTH_FAILURES = Counter("consent_api_auth_failures_total",
                        "requests refused by authentication, by reason "
                        "(missing, invalid, scope, rate)", ["reason"], registry=REGISTRY)
CHANGES = Counter("consent_api_changes_total",
                  "changes queued, by how the call ended (applied, queued: 202)", ["result"],
                  registry=REGISTRY)
FAST_PATH = Counter("consent_api_may_use_fast_path_total",
                    "GET /v1/may-use requests answered below the framework (cached token, "
                    "plain question; consent_api/fastpath.py)", registry=REGISTRY)
SIGN_INS = Counter("consent_api_console_sign_ins_total", "console sign-ins, by result",
                   ["result"], registry=REGISTRY)


class DirectoryCollector:
    """The last directory sync, read from the store at scrape time (the sync itself is a
    short-lived ``consentctl`` run with nowhere to keep a counter): when it finished and
    how, what it counted, whether it was refused, and the consent changes not yet queued."""

    def __init__(self, read: Callable[[], dict[str, Any] | None]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        try:
            last = self._read()
        except Exception:
            return
        if last is None:
            return
        finished = GaugeMetricFamily(
            "consent_directory_sync_finished_timestamp_seconds",
            "when the last subscribers sync (applied, dry_run or refused) finished",
            labels=["outcome"])
        finished.add_metric([last["outcome"]], _ts(last["finished_at"]))
        yield finished
        applied = GaugeMetricFamily(
            "consent_directory_sync_applied_timestamp_seconds",
            "when the last applied subscribers sync finished")
        if last.get("last_applied_at"):
            applied.add_metric([], _ts(last["last_applied_at"]))
        yield applied
        yield GaugeMetricFamily("consent_directory_sync_refused",
                                "1 when the last subscribers sync was refused (guard, bad rows)",
                                value=1.0 if last["outcome"] == "refused" else 0.0)
        rows = GaugeMetricFamily("consent_directory_sync_rows",
                                 "what the last subscribers sync counted, by kind", labels=["kind"])
        for kind in ("rows", "bad_rows", "directory_before", "added", "changed_group",
                     "changed_independence", "left", "new_holder"):
            rows.add_metric([kind], float(last[kind]))
        yield rows
        yield GaugeMetricFamily("consent_directory_changes_pending",
                                "consent changes of directory changes not yet queued",
                                value=float(last["pending_changes"]))


def _ts(iso_text: str | None) -> float:
    from consent_store.timeutil import parse_instant

    return parse_instant(iso_text).timestamp() if iso_text else 0.0


def directory_registry(read: Callable[[], dict[str, Any] | None]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DirectoryCollector(read))
    return registry
