"""Is Redis keeping what we acknowledge? Read from ``INFO persistence`` (``CONFIG GET`` is
often disabled on managed Redis), judged by a plain function, checked at start and then
periodically by every process that writes Redis.

Why it matters: a text is acknowledged to the SMSC (``deliver_sm_resp`` 0) once its batch
is in Redis; with ``appendonly no`` a Redis restart silently loses every acknowledged text
not yet applied (200 of 200 in the scale-out issue's test). docs/guarantees.md states the
promise per setting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from config.settings import RedisSettings

log = structlog.get_logger("redis")


class PersistenceRefused(Exception):
    """Redis does not persist and the configuration requires it: one line for the operator."""


@dataclass(frozen=True, slots=True)
class Persistence:
    """What ``INFO persistence`` says, reduced to what the promise depends on."""

    aof_enabled: bool
    aof_last_write_ok: bool
    loading: bool

    @property
    def ok(self) -> bool:
        return self.aof_enabled and self.aof_last_write_ok

    def problem(self) -> str | None:
        """Why acknowledged texts are at risk, or None."""
        if not self.aof_enabled:
            return "appendonly is off (AOF disabled): a Redis restart loses acknowledged texts"
        if not self.aof_last_write_ok:
            return "the last AOF write failed (aof_last_write_status != ok): check Redis's disk"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "aof_enabled": self.aof_enabled,
                "aof_last_write_ok": self.aof_last_write_ok, "problem": self.problem()}


def judge(info: Mapping[str, Any]) -> Persistence:
    """``INFO persistence`` as redis-py returns it (a dict of parsed fields)."""
    return Persistence(
        aof_enabled=str(info.get("aof_enabled", "0")) == "1",
        aof_last_write_ok=str(info.get("aof_last_write_status", "ok")) == "ok",
        loading=str(info.get("loading", "0")) == "1",
    )


def read(client: redis.Redis) -> Persistence:
    return judge(client.info("persistence"))


def check_at_start(client: redis.Redis, rs: RedisSettings, where: str) -> Persistence:
    """Raise ``PersistenceRefused`` when Redis does not persist and ``require_persistence``
    is on; otherwise log a warning for a risky Redis and return what was read."""
    found = read(client)
    problem = found.problem()
    if problem is None:
        return found
    if rs.require_persistence:
        raise PersistenceRefused(
            f"Redis at {where}: {problem}; set appendonly yes in redis.conf (recommended: "
            "appendfsync everysec), or redis.require_persistence = false to run anyway")
    log.warning("redis.not_persistent", redis=where, problem=problem,
                action="running anyway: redis.require_persistence = false")
    return found


class PersistenceWatch:
    """Re-reads Redis persistence every ``interval`` seconds in a daemon thread; ``last`` is
    the latest verdict (None while Redis does not answer), ``on_change`` is told of each."""

    def __init__(self, client: redis.Redis, interval: float, where: str,
                 on_change: Callable[[Persistence | None], None] | None = None) -> None:
        self._client = client
        self._interval = interval
        self._where = where
        self._on_change = on_change
        self._stop = threading.Event()
        self.last: Persistence | None = None

    def start(self, first: Persistence | None = None) -> None:
        self._set(first)
        threading.Thread(target=self._run, name="redis-persistence", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                found: Persistence | None = read(self._client)
            except redis.RedisError:
                found = None
            if found is not None and found.ok is False and (self.last is None or self.last.ok):
                log.error("redis.persistence_lost", redis=self._where, problem=found.problem(),
                          action="acknowledged texts are at risk until Redis persists again")
            self._set(found)

    def _set(self, found: Persistence | None) -> None:
        self.last = found
        if self._on_change is not None:
            self._on_change(found)
