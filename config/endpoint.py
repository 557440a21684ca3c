"""The HTTP edge every long-running process shares: ``/metrics`` and ``/healthz``.

``/healthz`` answers 200 when every check holds and 503 otherwise, each check in the JSON
body; the database check is cached so probes polling every second from several places do
not each open a database connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine

log = structlog.get_logger("health")

Checks = Callable[[], tuple[bool, dict[str, Any]]]


def serve(registry: CollectorRegistry, healthy: Checks, host: str, port: int) -> ThreadingHTTPServer:
    """Serve /metrics from ``registry`` and /healthz from ``healthy`` in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
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
            pass  # probes every second would flood the journal

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


class DatabaseCheck:
    """``select 1`` at most once per ``ttl`` seconds. ``engine`` is an engine or a function
    making one on first use. A probe that hangs (a host dropping packets) blocks no other
    request: they get the last answer meanwhile."""

    def __init__(self, engine: Engine | Callable[[], Engine], *, ttl: float = 5.0) -> None:
        self._engine = engine if isinstance(engine, Engine) else None
        self._make = None if isinstance(engine, Engine) else engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self.ok = False
        self.error: str | None = "not checked yet"

    def __call__(self) -> bool:
        if time.monotonic() - self._checked_at < self._ttl:
            return self.ok
        if not self._lock.acquire(blocking=False):
            return self.ok
        try:
            ok, error = self._probe()
            if not ok and error != self.error:
                log.warning("health.database_unreachable", error=error)
            elif ok and self.error and self._checked_at != float("-inf"):
                log.info("health.database_answers_again")
            self.ok, self.error = ok, error
            self._checked_at = time.monotonic()
            return self.ok
        finally:
            self._lock.release()

    def _probe(self) -> tuple[bool, str | None]:
        try:
            if self._engine is None and self._make is not None:
                self._engine = self._make()
            assert self._engine is not None
            with self._engine.connect() as conn:
                conn.execute(text("select 1"))
            return True, None
        except Exception as exc:  # any failure means "not answering"; say which
            first = str(exc).splitlines()[0] if str(exc) else ""
            return False, f"{type(exc).__name__}: {first}"

    def close(self) -> None:
        """Dispose of an engine this check made itself (not one it was given)."""
        if self._make is not None and self._engine is not None:
            self._engine.dispose()
