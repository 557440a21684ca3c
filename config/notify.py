"""A client for systemd's service notification protocol (sd_notify(3)), for Type=notify units.

The protocol is one datagram of newline-separated ``KEY=VALUE`` lines sent to the AF_UNIX
socket named in ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace). It is
small enough to write here: the ``sdnotify`` package on PyPI has not been released since
2017, and libsystemd's Python bindings need a C build. Without ``$NOTIFY_SOCKET`` (not
started by systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping

import structlog

__all__ = ["Notifier"]

log = structlog.get_logger(__name__)


class Notifier:
    """Tells the service manager how this process is doing; never raises.

    A failed send is logged once (later failures are silent, so a missing socket does
    not flood the journal) and otherwise ignored: losing a notification must not stop
    the service. With ``WatchdogSec=`` a lost WATCHDOG=1 does get the service restarted,
    which is what the watchdog is for.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env)
        self._failed = False
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when a service manager is listening ($NOTIFY_SOCKET was set)."""
        return self._address is not None

    def ready(self, status: str | None = None) -> None:
        """Start-up is finished (READY=1): systemd now counts the unit as started."""
        self._send("READY=1", *_status_line(status))

    def status(self, text: str) -> None:
        """A one-line, human-readable state shown by ``systemctl status``."""
        self._send(*_status_line(text))

    def watchdog(self) -> None:
        """Proof of life (WATCHDOG=1); send only from a loop that is really making progress."""
        self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        """Shutdown has begun (STOPPING=1)."""
        self._send("STOPPING=1", *_status_line(status))

    def reloading(self, status: str | None = None) -> None:
        """A reload has begun (RELOADING=1); call ``ready()`` when it is done.

        MONOTONIC_USEC lets systemd ≥ 253 (Type=notify-reload) match the message to the
        reload request; older versions ignore it.
        """
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send("RELOADING=1", f"MONOTONIC_USEC={now_usec}", *_status_line(status))

    def watchdog_interval(self) -> float | None:
        """``WatchdogSec=`` in seconds when the watchdog is on for this process, else None.

        Ping at least every half of it, as sd_watchdog_enabled(3) advises, so one late
        tick does not get a healthy service killed.
        """
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1_000_000

    def _send(self, *lines: str) -> None:
        if self._address is None:
            return
        payload = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(payload)
        except OSError as exc:
            with self._lock:
                first, self._failed = not self._failed, True
            if first:
                log.warning(
                    "systemd notification failed; further failures are not logged",
                    socket=_printable(self._address),
                    error=str(exc),
                )


def _address(value: str) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        # Abstract namespace: the name starts with a NUL byte instead of '@'.
        return "\0" + value[1:]
    return value


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    # The variables are inherited by children; WATCHDOG_PID says whose watchdog it is.
    if pid and pid != str(os.getpid()):
        return None
    return usec


def _status_line(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    # One datagram is newline-separated assignments: a newline would start a new key.
    return ("STATUS=" + " ".join(text.splitlines()),)


def _printable(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
