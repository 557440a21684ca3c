"""Runs the real processes (``sms-gateway run``, ``consent-worker run``) for end-to-end tests.

No component of ours is replaced: the gateway and the workers are the console commands an
operator runs, configured through a TOML file and environment variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import servers

BIN = Path(sys.executable).parent


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self) -> Proc:
        self.runs += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.runs}: {' '.join(self.args)}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=log)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 40.0) -> int | None:
        if self.proc is None:
            return None
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Pipeline:
    """Config + gateway + workers; the simulator runs in the test process."""

    workdir: Path
    sim_port: int
    redis_url: str
    database_url: str
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        sections: dict[str, dict[str, Any]] = {
            "smpp": {"host": "127.0.0.1", "port": self.sim_port, "enquire_link_interval": 5.0,
                     "response_timeout": 5.0, "reconnect_min": 0.2, "reconnect_max": 2.0,
                     "bind_refused_delay": 2.0, "throttle_pause": 0.2},
            # A server named by TEST_REDIS_URL is the tester's own, persistent or not.
            "redis": {"url": self.redis_url,
                      "require_persistence": not servers.is_testers_redis(self.redis_url)},
            "database": {"url": self.database_url},
            "gateway": {"instance": f"gw{os.getpid()}"},
            "metrics": {"gateway_port": 0, "worker_port": 0},
            "log": {"format": "json", "level": "info"},
        }
        for name, values in self.overrides.items():
            sections.setdefault(name, {}).update(values)
        self.sections = sections
        self.config = write_config(self.workdir / "gateway.toml", sections)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
        self.env["SMSGW_CONFIG"] = str(self.config)
        self.env["PYTHONUNBUFFERED"] = "1"

    def ctl(self, *args: str, check: bool = True,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "consentctl"), *args], env=self.env, text=True,
                              capture_output=True, check=check, timeout=120, input=input_text)

    def gateway(self, name: str = "gateway") -> Proc:
        p = Proc(name, [str(BIN / "sms-gateway"), "run"], self.env, self.workdir / f"{name}.log")
        self.procs.append(p)
        return p.start()

    def worker(self, *extra: str, name: str = "worker") -> Proc:
        p = Proc(name, [str(BIN / "consent-worker"), "run", *extra], self.env,
                 self.workdir / f"{name}.log")
        self.procs.append(p)
        return p.start()

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.procs if p.log_path.exists())


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class Pipelines:
    """Makes pipelines for one test (schema upgraded) and stops every process at the end."""

    def __init__(self, workdir: Path, sim_port: int) -> None:
        self.workdir, self.sim_port = workdir, sim_port
        self.made: list[Pipeline] = []

    def make(self, redis_url: str, database_url: str,
             overrides: dict[str, dict[str, Any]]) -> Pipeline:
        p = Pipeline(self.workdir, self.sim_port, redis_url, database_url, overrides)
        p.ctl("db", "upgrade")
        self.made.append(p)
        return p

    def stop(self) -> None:
        for p in self.made:
            p.stop()
