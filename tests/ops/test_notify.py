"""config.notify.Notifier against a socket standing in for systemd."""

from __future__ import annotations

import io
import os
import socket
import time
import uuid

import pytest

from config.logs import configure_logging
from config.notify import Notifier
from config.settings import LogSettings
from tests.ops.conftest import NotifySocket


def _notifier(sock: NotifySocket, **extra: str) -> Notifier:
    return Notifier({"NOTIFY_SOCKET": str(sock.path), **extra})


def test_each_call_sends_its_assignment(notify_socket: NotifySocket) -> None:
    n = _notifier(notify_socket)
    assert n.enabled

    n.ready()
    assert notify_socket.receive() == {"READY": "1"}
    n.status("bound to 10.0.0.5:2775 as consentgw, 1 234 MO today")
    assert notify_socket.receive() == {
        "STATUS": "bound to 10.0.0.5:2775 as consentgw, 1 234 MO today"
    }
    n.watchdog()
    assert notify_socket.receive() == {"WATCHDOG": "1"}
    n.stopping()
    assert notify_socket.receive() == {"STOPPING": "1"}
    assert not notify_socket.pending()


def test_ready_and_stopping_can_carry_a_status_in_the_same_datagram(
    notify_socket: NotifySocket,
) -> None:
    n = _notifier(notify_socket)
    n.ready("bound")
    assert notify_socket.receive() == {"READY": "1", "STATUS": "bound"}
    n.stopping("unbinding")
    assert notify_socket.receive() == {"STOPPING": "1", "STATUS": "unbinding"}


def test_reloading_carries_the_monotonic_clock(notify_socket: NotifySocket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    _notifier(notify_socket).reloading()
    msg = notify_socket.receive()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert msg["RELOADING"] == "1"
    assert before <= int(msg["MONOTONIC_USEC"]) <= after


def test_a_newline_in_a_status_cannot_smuggle_another_assignment(
    notify_socket: NotifySocket,
) -> None:
    _notifier(notify_socket).status("link down\nREADY=1")
    assert notify_socket.receive() == {"STATUS": "link down READY=1"}


def test_status_is_sent_as_utf8(notify_socket: NotifySocket) -> None:
    _notifier(notify_socket).status("Sadarbība: 3 šodien")
    assert notify_socket.receive() == {"STATUS": "Sadarbība: 3 šodien"}


def test_abstract_namespace_socket_is_reached_with_at_sign() -> None:
    name = f"smsgw-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert server.recv(4096) == b"READY=1"


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    n.ready()
    n.status("x")
    n.watchdog()
    n.reloading()
    n.stopping()
    assert n.watchdog_interval() is None


def test_reads_the_process_environment_by_default(
    notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_socket.path))
    Notifier().watchdog()
    assert notify_socket.receive() == {"WATCHDOG": "1"}


def test_a_failed_send_never_raises_and_is_logged_once() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(format="json"), service="test", stream=out)
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent/dir/notify.sock"})
    for _ in range(3):
        n.ready()
        n.watchdog()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "systemd notification failed" in lines[0]
    assert "/nonexistent/dir/notify.sock" in lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # someone else's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_comes_from_watchdog_usec_for_this_process(
    env: dict[str, str], expected: float | None
) -> None:
    assert Notifier(env).watchdog_interval() == expected
