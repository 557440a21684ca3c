"""Prometheus metrics of the gateway (names follow the Prometheus naming conventions)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.texts = Counter(
            "smsgw_texts_received_total", "deliver_sm received, by what became of them",
            ["outcome"], registry=r)
        self.deliver_resp = Counter(
            "smsgw_deliver_sm_resp_total", "deliver_sm_resp sent, by command_status",
            ["status"], registry=r)
        self.submits = Counter(
            "smsgw_submit_sm_total", "submit_sm responses received, by command_status",
            ["status"], registry=r)
        self.throttled = Counter(
            "smsgw_throttle_events_total", "submit_sm answered ESME_RTHROTTLED/ESME_RMSGQFUL",
            registry=r)
        self.replies_sent = Counter(
            "smsgw_replies_sent_total", "replies accepted by the SMSC", registry=r)
        self.replies_failed = Counter(
            "smsgw_replies_failed_total", "replies given up after a permanent error", registry=r)
        self.replies_resynced = Counter(
            "smsgw_replies_resynced_total", "replies found in this gateway's in-flight list "
            "after a Redis error (taken by a call whose answer was lost), submitted then",
            registry=r)
        self.reply_latency = Histogram(
            "smsgw_reply_latency_seconds", "text received to reply accepted by the SMSC",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.link_up = Gauge("smsgw_link_bound", "1 while the SMPP bind is up", registry=r)
        self.reconnects = Counter(
            "smsgw_link_reconnects_total", "SMPP (re)binds attempted", ["result"], registry=r)
        self.bad_pdus = Counter(
            "smsgw_bad_pdus_total", "malformed or unsupported PDUs from the SMSC", ["kind"],
            registry=r)
        self.unexpected_responses = Counter(
            "smsgw_unexpected_responses_total",
            "responses from the SMSC matching no outstanding request of ours (by kind)",
            ["kind"], registry=r)
        self.io_crashes = Counter(
            "smsgw_link_io_crashes_total", "SMPP I/O threads ended by a bug (link recycled)",
            registry=r)
        self.submit_timeouts = Counter(
            "smsgw_submit_timeouts_total", "submit_sm without submit_sm_resp by the deadline",
            registry=r)
        self.answers_not_sent = Counter(
            "smsgw_deliver_sm_resp_not_sent_total",
            "deliver_sm_resp not written: owed on an earlier connection, or the write failed",
            registry=r)
        self.queue_errors = Counter(
            "smsgw_queue_errors_total", "batches that could not be queued (answered temp error)",
            registry=r)
        self.batch_size = Histogram(
            "smsgw_batch_texts", "texts per queued batch",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), registry=r)
        self.backlog = Gauge(
            "smsgw_backlog_texts", "texts queued in Redis and not yet applied by a worker, "
            "all gateways together (gateway.max_backlog bounds it)", registry=r)
        self.long_texts = Counter(
            "smsgw_long_texts_total", "long texts queued from parts held in Redis, by how: "
            "completed (its last part came here), expired (queued as received after "
            "gateway.concat_timeout), claimed (taken over from an instance that had claimed "
            "it and not queued it in time)", ["how"], registry=r)
        self.queue_depth = Gauge(
            "smsgw_queue_depth", "jobs or replies waiting in Redis", ["queue"], registry=r)
