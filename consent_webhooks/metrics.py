"""What ``consent-webhooks``'s ``/metrics`` shows (Prometheus text format)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

DELIVERIES = Counter("consent_webhooks_deliveries_total",
                     "event deliveries tried, by subscription and result (ok, failed)",
                     ["webhook", "result"], registry=REGISTRY)
LAG = Gauge("consent_webhooks_lag_seconds",
            "age of the oldest change a subscription has not yet been delivered (0: caught up)",
            ["webhook"], registry=REGISTRY)
PARKED = Gauge("consent_webhooks_parked",
               "1 while a subscription is parked (failed for webhooks.park_after; "
               "`consentctl webhook replay` resumes it)", ["webhook"], registry=REGISTRY)
DELAY = Histogram("consent_webhooks_delivery_seconds",
                  "from a change being applied to the receiver accepting it",
                  registry=REGISTRY,
                  buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 3600))
