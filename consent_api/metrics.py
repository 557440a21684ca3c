"""What ``/metrics`` shows about the API (Prometheus text format)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
SIGN_INS = Counter("consent_api_console_sign_ins_total", "console sign-ins, by result",
                   ["result"], registry=REGISTRY)
