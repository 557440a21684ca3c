"""consent-api under strace, serving the API and the console: every system call it makes
is inside consent-api.service's SystemCallFilter, and nothing maps writable+executable
memory (MemoryDenyWriteExecute=)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.ops.test_units import _STRACE_CALL, VENV_BIN, _allowed_syscalls, _as_service_user
from tests.support.servers import free_port, wait_port


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze")
def test_api_stays_inside_the_system_call_filter_and_wx_rule(tmp_path: Path,
                                                             redis_url: str) -> None:
    port = free_port()
    env = {**os.environ, "SMSGW_REDIS__URL": redis_url,
           "SMSGW_DATABASE__URL": f"sqlite:///{tmp_path}/consents.db",
           # Settings come from the environment below; the file only has to exist.
           "SMSGW_CONFIG": str(_empty_config(tmp_path)),
           "SMSGW_API__PORT": str(port), "SMSGW_API__CHANGE_WAIT": "0.2",
           "SMSGW_LOG__FORMAT": "json"}
    subprocess.run([str(VENV_BIN / "consentctl"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, cwd=tmp_path)
    out = subprocess.run([str(VENV_BIN / "consentctl"), "api-token", "create", "t", "--scopes",
                          "read,write"], env=env, check=True, capture_output=True, text=True,
                         cwd=tmp_path)
    token = out.stdout.strip().splitlines()[-1]
    trace = tmp_path / "trace"
    proc = subprocess.Popen([*_as_service_user(), "strace", "-f", "-qq", "-o", str(trace), "--",
                             str(VENV_BIN / "consent-api"), "run"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, 120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/healthz").status_code == 503  # no worker: said, not crashed
            assert c.get("/v1/may-use", params={"msisdn": "37129000001",
                                                "consent": "VIETA"}).status_code == 200
            assert c.post("/v1/numbers/37129000001/consents/VIETA",
                          json={"action": "give", "channel": "web"},
                          headers={"Idempotency-Key": "k"}).status_code == 202
            assert c.get("/console/login").status_code == 200
            assert c.post("/console/login", data={"name": "x", "password": "y",
                                                  "csrf": "z"}).status_code == 403
    finally:
        # strace's child is consent-api: stop it as systemd would (strace then exits).
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        proc.wait(120)
    lines = trace.read_text().splitlines()
    used = {m.group(1) for line in lines if (m := _STRACE_CALL.match(line))}
    assert {"socket", "bind", "listen", "accept4"} & used  # the trace is real
    assert sorted(used - _allowed_syscalls("consent-api.service")) == []
    wx = [line for line in lines
          if re.search(r"\b(mmap|mremap)\(.*PROT_WRITE\|PROT_EXEC", line)
          or re.search(r"\b(pkey_)?mprotect\(.*PROT_EXEC", line)]
    assert wx == []


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text("# every setting from SMSGW_* variables\n")
    return path
