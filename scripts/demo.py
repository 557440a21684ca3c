"""``make demo``: the whole pipeline on embedded defaults, one conversation, then the store.

Starts a private Redis on a free port, an SQLite store in a temporary directory, the
simulator (playing demo/conversation.txt), ``sms-gateway run`` and ``consent-worker run``
— the same processes operators run — prints every text with its reply and then
``consentctl show`` for each number, and stops everything it started. Its work
directories (``/tmp/smsgw-demo-*``) are removed afterwards; when the demo fails the one
holding the logs is kept and named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts import demo_api
from tests.support.pipeline import write_config
from tests.support.servers import RedisServer, free_port, new_tempdir

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NUMBERS = ("37129123456", "37126000111", "37129000777")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="smsgw-demo-"))
    redis_srv = RedisServer(dir=new_tempdir("smsgw-demo-redis-"))
    redis_srv.start()
    port = free_port()
    config = write_config(work / "gateway.toml", {
        "smpp": {"port": port, "reconnect_min": 0.2, "reconnect_max": 2.0},
        "redis": {"url": redis_srv.url},
        "database": {"url": f"sqlite:///{work}/consents.db"},
        "gateway": {"instance": "demo"},
        "metrics": {"gateway_port": 0, "worker_port": 0},
        "log": {"format": "json"},
        "api": {"port": (api_port := free_port())},
        # The conversation sends ~30 texts from one number within a minute; the shipped
        # per-number limit (20 replies a minute) would withhold the last replies.
        "limits": {"replies_per_minute": 60},
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    env["SMSGW_CONFIG"] = str(config)
    procs: list[subprocess.Popen[bytes]] = []

    def ctl(*args: str) -> str:
        return subprocess.run([str(BIN / "consentctl"), *args], env=env, check=True, text=True,
                              capture_output=True).stdout

    status = 1
    try:
        print(f"== demo workspace {work} (Redis on port {redis_srv.port}, SMPP on port {port})")
        ctl("db", "upgrade")
        print(ctl("subscribers", "import", str(ROOT / "demo" / "subscribers.csv")).strip())
        sim = subprocess.Popen([str(BIN / "smsc-sim"), "--port", str(port), "--log-level",
                                "warning", "--script", str(ROOT / "demo" / "conversation.txt"),
                                "--bind-timeout", "30", "--reply-timeout", "10"], env=env)
        procs.append(sim)
        logs = (work / "gateway.log").open("wb"), (work / "worker.log").open("wb")
        procs.append(subprocess.Popen([str(BIN / "sms-gateway"), "run"], env=env,
                                      stdout=logs[0], stderr=logs[0]))
        procs.append(subprocess.Popen([str(BIN / "consent-worker"), "run"], env=env,
                                      stdout=logs[1], stderr=logs[1]))
        procs.append(demo_api.start(BIN, env, work, api_port))
        status = sim.wait(180)
        print()
        if not demo_api.play(ctl, api_port) and status == 0:
            status = 1
        for number in NUMBERS:
            print(f"== consentctl show {number}")
            print(ctl("show", number))
        if status != 0:
            print(f"== logs kept: {work}/gateway.log, {work}/worker.log, {work}/api.log")
        print("== demo", "passed: every reply was as expected" if status == 0
              else f"FAILED (smsc-sim exit {status})")
        if os.environ.get("DEMO_KEEP") == "1":
            demo_api.keep_running()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        redis_srv.stop()
        shutil.rmtree(redis_srv.dir, ignore_errors=True)
        if status == 0:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
