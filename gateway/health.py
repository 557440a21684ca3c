"""The gateway's HTTP endpoint: ``/metrics`` for Prometheus and ``/healthz`` for probes.

``/healthz`` answers 200 only when the SMPP link is bound, Redis answers and the database
answers (issue 5: a gateway that queues texts no worker can apply is not healthy); 503
otherwise, with each check in the JSON body.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

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


class DatabaseCheck:
    """``select 1`` against the consent database, at most once per ``ttl`` seconds.

    The gateway never imports the store (design.md); this is a bare connection. Probes
    (Kubernetes, haproxy, monitoring) may poll every second from several places: the
    answer is cached so they do not open a database connection each.
    """

    def __init__(self, url: str, *, ttl: float = 5.0, timeout: int = 2) -> None:
        self._url = url
        self._ttl = ttl
        self._timeout = timeout
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._checked_at = float("-inf")
        self._ok = False
        self.error: str | None = None

    def __call__(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at >= self._ttl:
                ok, error = self._probe()
                if not ok and error != self.error:
                    log.warning("health.database_unreachable", error=error)
                elif ok and self.error:
                    log.info("health.database_answers_again")
                self._ok, self.error = ok, error
                self._checked_at = time.monotonic()
            return self._ok

    def _probe(self) -> tuple[bool, str | None]:
        try:
            if self._engine is None:
                self._engine = _probe_engine(self._url, self._timeout)
            with self._engine.connect() as conn:
                conn.execute(text("select 1"))
            return True, None
        except Exception as exc:  # any failure means "not answering"; say which
            return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _probe_engine(url: str, timeout: int) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            # Read-only, so a probe never creates an empty database file where the real
            # one is missing (sqlite3 creates the file on connect by default).
            parsed = parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        return create_engine(parsed, poolclass=NullPool)
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # libpq's connect_timeout and a statement timeout bound a probe against a host that
    # drops packets or a server that hangs.
    return create_engine(parsed, poolclass=NullPool, connect_args={
        "connect_timeout": timeout, "options": f"-c statement_timeout={timeout * 1000}"})


class HealthServer:
    def __init__(self, target: _Target) -> None:
        self._t = target
        self._server: ThreadingHTTPServer | None = None
        self.database = DatabaseCheck(target.s.database.url.get_secret_value())

    def healthy(self) -> tuple[bool, dict[str, Any]]:
        """The gateway's own checks (link, Redis, threads) and the database's."""
        ok, checks = self._t.healthy()
        checks = {**checks, "database": self.database()}
        if self.database.error:
            checks["database_error"] = self.database.error
        return ok and checks["database"], checks

    def start(self) -> None:
        m = self._t.s.metrics
        if not m.gateway_port:
            return
        try:
            self._server = serve(self._t.metrics.registry, self.healthy, m.bind, m.gateway_port)
        except OSError as exc:
            log.error("metrics.unavailable", port=m.gateway_port, error=exc.strerror,
                      action="running without /metrics and /healthz")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.database.close()
