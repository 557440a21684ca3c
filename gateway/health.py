"""The gateway's HTTP endpoint: ``/metrics`` for Prometheus and ``/healthz`` for probes."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = structlog.get_logger("gateway.health")


class _Target(Protocol):
    s: Any

    @property
    def metrics(self) -> Any: ...

    def healthy(self) -> tuple[bool, dict[str, Any]]: ...


def serve(registry: CollectorRegistry, healthy: Any, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                body = generate_latest(registry)
                self._send(200, CONTENT_TYPE_LATEST, body)
            elif self.path.startswith("/healthz"):
                ok, checks = healthy()
                self._send(200 if ok else 503, "application/json",
                           json.dumps({"ok": ok, **checks}).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


class HealthServer:
    def __init__(self, target: _Target) -> None:
        self._t = target
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        m = self._t.s.metrics
        if not m.gateway_port:
            return
        try:
            self._server = serve(self._t.metrics.registry, self._t.healthy, m.bind, m.gateway_port)
        except OSError as exc:
            log.error("metrics.unavailable", port=m.gateway_port, error=exc.strerror,
                      action="running without /metrics and /healthz")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
