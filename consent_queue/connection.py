"""The one place a Redis client is built from settings: a single Redis by URL, or the
primary of a Sentinel service, followed across failovers.

Every process (gateway, workers, consentctl, the API) takes its client from here, so a
timeout, a Sentinel list or a password is configured once and means the same everywhere.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.connection import parse_url
from redis.sentinel import Sentinel, SentinelManagedConnection
from redis.utils import SENTINEL

from config.settings import RedisSettings


class _PrimaryConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection with the read error handling of every other one.

    redis-py 8.1's ``SentinelManagedConnection.read_response`` defaults
    ``disconnect_on_error`` to False (redis-py pull request #4292), so a read cut short by
    an exception from a signal handler (RQ raises its stop request from the SIGTERM
    handler, mid-BLMOVE) leaves the connection in the pool with the reply unread: the
    next command reads that reply, or waits behind the blocked command. We disconnect.
    """

    def read_response(self, disable_decoding: bool = False, *,
                      timeout: float | object = SENTINEL,
                      disconnect_on_error: bool | None = True,
                      push_request: bool | None = False) -> Any:
        return super().read_response(disable_decoding=disable_decoding, timeout=timeout,
                                     disconnect_on_error=disconnect_on_error,
                                     push_request=push_request)


def redis_client(rs: RedisSettings, *, health_check_interval: int = 0,
                 socket_timeout: float | None = None,
                 decode_responses: bool = False) -> redis.Redis:
    """A client that gives up after ``rs.socket_timeout`` instead of hanging
    (``decode_responses``: answers as ``str``, for a client that only reads text).

    With ``rs.sentinels`` the client asks the sentinels for the current primary of
    ``rs.service_name`` and asks again after a connection error, so a failover costs the
    commands in flight at that moment (callers retry them) and nothing after. A primary
    that was demoted answers writes with READONLY; redis-py's Sentinel pool then
    reconnects to the new primary as well.
    """
    url = rs.url.get_secret_value()
    common = _common(rs, socket_timeout, health_check_interval)
    common["decode_responses"] = decode_responses
    if not rs.sentinels:
        return redis.Redis.from_url(url, **common)
    node, sentinel_kwargs = _sentinel_parts(rs)
    sentinel = Sentinel(sentinel_addresses(rs), sentinel_kwargs=sentinel_kwargs,  # type: ignore[no-untyped-call,unused-ignore]
                        **common, **node)
    primary: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call,unused-ignore]
        rs.service_name, connection_class=_PrimaryConnection, **common, **node)
    return primary


def async_redis_client(rs: RedisSettings, *, socket_timeout: float | None = None
                       ) -> redis.asyncio.Redis:
    """``redis_client`` for asyncio callers (the API's long waits on the event loop)."""
    import redis.asyncio
    import redis.asyncio.sentinel

    common = _common(rs, socket_timeout, 0)
    if not rs.sentinels:
        return redis.asyncio.Redis.from_url(rs.url.get_secret_value(), **common)
    node, sentinel_kwargs = _sentinel_parts(rs)
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
        sentinel_addresses(rs), sentinel_kwargs=sentinel_kwargs, **common, **node)
    primary: redis.asyncio.Redis = sentinel.master_for(
        rs.service_name, **common, **node)
    return primary


def _common(rs: RedisSettings, socket_timeout: float | None,
            health_check_interval: int) -> dict[str, Any]:
    return {"socket_timeout": rs.socket_timeout if socket_timeout is None else socket_timeout,
            "socket_connect_timeout": rs.socket_timeout,
            "health_check_interval": health_check_interval}


def _sentinel_parts(rs: RedisSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the data nodes' db/password/username from ``rs.url``, the sentinels' own options)."""
    from_url = parse_url(rs.url.get_secret_value())  # type: ignore[no-untyped-call,unused-ignore]
    node = {k: from_url[k] for k in ("db", "password", "username") if k in from_url}
    sentinel_kwargs: dict[str, Any] = {"socket_timeout": rs.socket_timeout,
                                       "socket_connect_timeout": rs.socket_timeout}
    if rs.sentinel_password.get_secret_value():
        sentinel_kwargs["password"] = rs.sentinel_password.get_secret_value()
    return node, sentinel_kwargs


def sentinel_addresses(rs: RedisSettings) -> list[tuple[str, int]]:
    out = []
    for entry in rs.sentinels:
        host, _, port = entry.rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def redis_where(rs: RedisSettings) -> str:
    """Where Redis is, for logs and status screens: the URL without its password, or the
    Sentinel service and its sentinels."""
    if rs.sentinels:
        return f"sentinel:{rs.service_name}@{','.join(rs.sentinels)}"
    return _without_password(rs.url.get_secret_value())


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
