"""Fixtures for the operations tests: a stand-in for systemd's notification socket."""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog


class NotifySocket:
    """A bound AF_UNIX datagram socket playing the service manager's end of sd_notify."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))

    def receive(self, timeout: float = 5.0) -> dict[str, str]:
        """The next datagram as a dict of its ``KEY=VALUE`` lines; TimeoutError if none."""
        self._sock.settimeout(timeout)
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            raise TimeoutError(f"no notification on {self.path} within {timeout}s") from None
        return dict(line.split("=", 1) for line in data.decode("utf-8").split("\n") if line)

    def wait_for(self, key: str, timeout: float = 30.0) -> list[dict[str, str]]:
        """Datagrams up to and including the first that carries ``key``."""
        seen: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {key}= within {timeout}s; got {seen}")
            seen.append(self.receive(left))
            if key in seen[-1]:
                return seen

    def pending(self) -> bool:
        """True when a datagram is waiting."""
        self._sock.setblocking(False)
        try:
            self._sock.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        finally:
            self._sock.setblocking(True)
        return True

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def notify_socket() -> Iterator[NotifySocket]:
    """A notification socket; point a process at it with ``NOTIFY_SOCKET=str(sock.path)``."""
    # Not under tmp_path: a socket path must fit in sun_path (108 bytes), and pytest's
    # directories are named after the test.
    where = Path(tempfile.mkdtemp(prefix="notify-"))
    sock = NotifySocket(where / "sock")
    yield sock
    sock.close()
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests here call configure_logging; leave logging as it was for the next test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    smpp_level = logging.getLogger("smpp").level
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    logging.getLogger("smpp").setLevel(smpp_level)
    logging.captureWarnings(False)
