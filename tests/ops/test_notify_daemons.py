"""``sms-gateway run`` and ``consent-worker run`` speak sd_notify the way their Type=notify
units expect: READY=1 only once really serving, a readable STATUS=, WATCHDOG=1 while
alive, STOPPING=1 on SIGTERM and then exit 0. A datagram socket stands in for systemd."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis

from smsc_sim.threaded import SimulatorThread
from tests.ops.conftest import NotifySocket
from tests.support import servers
from tests.support.pipeline import Pipeline

pytestmark = pytest.mark.e2e

WATCHDOG_USEC = "30000000"  # WatchdogSec=30 in both units


def drain(sock: NotifySocket, seconds: float) -> list[dict[str, str]]:
    """Every datagram that arrives within ``seconds``."""
    got: list[dict[str, str]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(sock.receive(left))
        except TimeoutError:
            break
    return got


def pipeline(tmp_path: Path, smsc_port: int, redis_url: str, sock: NotifySocket) -> Pipeline:
    p = Pipeline(tmp_path, smsc_port, redis_url, f"sqlite:///{tmp_path}/consents.db")
    p.ctl("db", "upgrade")
    p.env["NOTIFY_SOCKET"] = str(sock.path)
    p.env["WATCHDOG_USEC"] = WATCHDOG_USEC
    return p


def test_gateway_is_ready_only_once_bound_then_watchdog_status_and_stopping(
        tmp_path: Path, redis_url: str, notify_socket: NotifySocket) -> None:
    smsc_port = servers.free_port()  # nothing listens yet: the gateway cannot bind
    p = pipeline(tmp_path, smsc_port, redis_url, notify_socket)
    gw = p.gateway()
    sim = None
    try:
        before = drain(notify_socket, 3.0)
        assert not any("READY" in m for m in before), before
        # Retrying the connection is progress, not a hang: the watchdog is still fed.
        assert any(m.get("WATCHDOG") == "1" for m in before), before

        sim = SimulatorThread(port=smsc_port).start()
        upto_ready = notify_socket.wait_for("READY", 20)
        assert sim.wait_for_bind(0.5), "READY=1 arrived but the simulator saw no bind"
        ready = upto_ready[-1]
        assert ready["READY"] == "1"
        assert ready["STATUS"].startswith(f"bound to 127.0.0.1:{smsc_port} as consentgw, "), ready

        sim.send_mo("37129000001", "VIETA")
        # The status line is refreshed every 5 s and counts what arrived.
        seen = drain(notify_socket, 7.0)
        statuses = [m["STATUS"] for m in seen if "STATUS" in m]
        assert any("1 MO" in s for s in statuses), statuses
        assert sum(m.get("WATCHDOG") == "1" for m in seen) >= 3, seen

        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        stopping = notify_socket.wait_for("STOPPING", 10)[-1]
        assert stopping["STOPPING"] == "1"
        assert gw.proc.wait(30) == 0, p.logs()[-2000:]
        assert not any("READY" in m for m in drain(notify_socket, 0.3))
    finally:
        p.stop()
        if sim is not None:
            sim.stop()


def test_worker_is_ready_only_once_it_holds_its_shard_then_watchdog_and_stopping(
        tmp_path: Path, redis_url: str, notify_socket: NotifySocket) -> None:
    p = pipeline(tmp_path, servers.free_port(), redis_url, notify_socket)
    client = redis.Redis.from_url(redis_url)
    # Another (live) worker serves shard 0: this one must wait, and is not ready.
    client.set("smsgw:shard-lock:0", "other-host.1", ex=60)
    wk = p.worker("--shard", "0")
    try:
        # Waiting, not hung: it feeds the watchdog (once a second) once it has started,
        # which takes a few seconds on a loaded host, and never says READY meanwhile.
        before = notify_socket.wait_for("WATCHDOG", 30) + drain(notify_socket, 2.5)
        assert not any("READY" in m for m in before), before
        assert sum(m.get("WATCHDOG") == "1" for m in before) >= 2, before

        client.delete("smsgw:shard-lock:0")
        ready = notify_socket.wait_for("READY", 20)[-1]
        assert ready == {"READY": "1", "STATUS": "serving shards 0"}
        assert (client.get("smsgw:shard-lock:0") or b"").decode() != "other-host.1"

        seen = drain(notify_socket, 11.0)  # the lock renewal feeds the watchdog every 5 s
        assert sum(m.get("WATCHDOG") == "1" for m in seen) >= 2, seen

        assert wk.proc is not None
        wk.proc.send_signal(signal.SIGTERM)
        assert notify_socket.wait_for("STOPPING", 15)[-1]["STOPPING"] == "1"
        assert wk.proc.wait(30) == 0, p.logs()[-2000:]
        assert client.get("smsgw:shard-lock:0") is None  # released for the next worker
    finally:
        p.stop()
        client.close()
