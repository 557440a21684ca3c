"""The gateway's HTTP endpoint: ``/metrics`` for Prometheus and ``/healthz`` for probes.

``/healthz`` answers 200 only when the SMPP link is bound, Redis answers and the database
answers (a gateway that queues texts no worker can apply is not healthy); 503
otherwise, with each check in the JSON body.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer
from typing import Any, Protocol

import structlog
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from config.endpoint import DatabaseCheck, serve
from config.settings import Settings

log = structlog.get_logger("gateway.health")


class _Target(Protocol):
    settings: Settings

    @property
    def metrics(self) -> Any: ...

    def healthy(self) -> tuple[bool, dict[str, Any]]: ...


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
        self._target = target
        self._server: ThreadingHTTPServer | None = None
        url = target.settings.database.url.get_secret_value()
        self.database = DatabaseCheck(lambda: _probe_engine(url, 2))

    def healthy(self) -> tuple[bool, dict[str, Any]]:
        """The gateway's own checks (link, Redis, threads) and the database's."""
        ok, checks = self._target.healthy()
        checks = {**checks, "database": self.database()}
        if self.database.error:
            checks["database_error"] = self.database.error
        return ok and checks["database"], checks

    def start(self) -> None:
        metrics = self._target.settings.metrics
        if not metrics.gateway_port:
            return
        try:
            self._server = serve(self._target.metrics.registry, self.healthy, metrics.bind,
                                 metrics.gateway_port)
        except OSError as exc:
            log.error("metrics.unavailable", port=metrics.gateway_port, error=exc.strerror,
                      action="running without /metrics and /healthz")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.database.close()
