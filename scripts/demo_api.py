"""The API and the console in ``make demo``: ``consent-api run`` next to the gateway and
the worker, a demo agent and token, one change over HTTP (through the same queue as the
texts), a may-use question, and the console's address with the agent's credentials.

``DEMO_KEEP=1 make demo`` keeps the whole stack running afterwards (Ctrl-C stops it) so
the console can be opened in a browser.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.servers import wait_port

DEMO_NUMBER = "37129123456"


def start(bin_dir: Path, env: dict[str, str], work: Path, port: int) -> subprocess.Popen[bytes]:
    log = (work / "api.log").open("wb")
    proc = subprocess.Popen([str(bin_dir / "consent-api"), "run"], env=env, stdout=log,
                            stderr=log)
    wait_port(port, 30)
    return proc


def play(ctl: Callable[..., str], port: int) -> bool:
    """Give AUTO over HTTP, ask may-use, print what an agent needs; True when as expected."""
    base = f"http://127.0.0.1:{port}"
    token = ctl("api-token", "create", "demo", "--scopes", "read,write").strip().splitlines()[-1]
    password = ctl("agent", "add", "demo").strip().splitlines()[-1]
    answer = _call(f"{base}/v1/numbers/{DEMO_NUMBER}/consents/AUTO", token,
                   {"action": "give", "channel": "web"})
    print(f"== POST /v1/numbers/{DEMO_NUMBER}/consents/AUTO (web) → {json.dumps(answer)}")
    may = _call(f"{base}/v1/may-use?msisdn={DEMO_NUMBER}&consent=AUTO", token)
    print(f"== GET /v1/may-use?msisdn={DEMO_NUMBER}&consent=AUTO → {json.dumps(may)}")
    print(f"== console: {base}/console  agent: demo  password: {password}")
    print(f"== API: {base}/docs  token (read,write): {token}")
    return answer.get("outcome") in ("given", "already_given") and may.get("allowed") is True


def _call(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        headers |= {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
        out: dict[str, Any] = json.loads(resp.read())
        return out


def keep_running() -> None:
    print("== DEMO_KEEP=1: the stack keeps running; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
