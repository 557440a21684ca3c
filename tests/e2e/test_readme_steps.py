"""README "Run it yourself", replayed as a newcomer types it: line by line into an
interactive bash on a real pseudo-terminal (job control on), so that ``smsc-sim --web
PORT &`` runs as a background job of a terminal — where a prompt that reads the terminal
gets the job stopped (``Stopped (tty input)``) and the gateway never binds.

Only ports and paths are changed (free ones, the test's directory); metrics ports are
turned off through their documented SMSGW_* variables, so parallel tests never collide.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pipeline import wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def readme_steps() -> list[str]:
    """The shell lines of README "Run it yourself" (the heredoc kept as one step)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Run it yourself", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    steps: list[str] = []
    heredoc: list[str] | None = None
    for line in block.splitlines():
        if heredoc is not None:
            heredoc.append(line)
            if line.strip() == "TOML":
                steps.append("\n".join(heredoc))
                heredoc = None
            continue
        if "<<'TOML'" in line:
            heredoc = [line]
        elif line.strip():
            steps.append(line)
    return steps


class Terminal:
    """An interactive bash on a pseudo-terminal; ``run`` types a line and waits for it."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: session leader with the pty as its controlling terminal
            os.chdir(cwd)
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)  # noqa: S606
        self.pid, self.fd = pid, fd
        self.out = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.count = 0

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                if ready:
                    data = os.read(self.fd, 65536)
                    if not data:
                        return
                    with self._lock:
                        self.out += data.decode(errors="replace")
            except OSError:
                return

    def run(self, line: str, timeout: float = 120) -> str:
        """Type ``line``; its output once bash has finished it."""
        return self.run_status(line, timeout)[0]

    def run_status(self, line: str, timeout: float = 120) -> tuple[str, int]:
        """Type ``line``; its output and exit status once bash has finished it."""
        self.count += 1
        marker = f"__step_{self.count}_done__"
        with self._lock:
            start = len(self.out)
        os.write(self.fd, (line + "\n").encode())
        # Typed after the step: bash reads it only once the step is over.
        os.write(self.fd, f"echo {marker[:7]}\"{marker[7:]}\" $?\n".encode())
        done = re.compile(re.escape(marker) + r" (\d+)")
        assert wait_until(lambda: done.search(self.out[start:]), timeout), \
            self.out[start:][-3000:]
        output = self.out[start:]
        found = done.search(output)
        assert found is not None
        return output, int(found.group(1))

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGHUP)  # an interactive bash passes it to its jobs
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        os.close(self.fd)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "TERM": "dumb", "LANG": "C.UTF-8", "PS1": "$ ",
           # Not in the README's file: the metrics ports' defaults would collide with
           # tests running in parallel; their variables are the documented way to move them.
           "SMSGW_METRICS__GATEWAY_PORT": "0", "SMSGW_METRICS__WORKER_PORT": "0"}
    t = Terminal(tmp_path, env)
    yield t
    t.close()


def test_readme_run_it_yourself_in_an_interactive_shell(tmp_path: Path, terminal: Terminal) -> None:
    redis_port, smpp_port, web_port = free_port(), free_port(), free_port()
    steps = readme_steps()
    assert any(s.startswith("smsc-sim --web 8080 &") for s in steps), steps
    replace = [("6390", str(redis_port)), ("port = 2775", f"port = {smpp_port}"),
               ("smsc-sim --web 8080", f"smsc-sim --port {smpp_port} --web {web_port}"),
               ("/tmp/consents.db", str(tmp_path / "consents.db"))]
    try:
        for step in steps:
            if step.startswith("make venv"):
                step = f"export PATH={BIN}:$PATH"  # the venv exists: the test runs in it
            for old, new in replace:
                step = step.replace(old, new)
            if step.startswith("consentctl status"):
                # The README's last step; the link binds within a few seconds.
                ok = wait_until(lambda s=step: terminal.run_status(s)[1] == 0, 60, interval=0.5)
                assert ok, terminal.out[-3000:]
                continue
            output = terminal.run(step)
            assert "Stopped" not in output, (step, output[-2000:])
        jobs = terminal.run("jobs")
        assert "Stopped" not in jobs and jobs.count("Running") == 3, jobs
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=10) as page:
            assert page.status == 200
        shown, status = terminal.run_status("consentctl show 37129123456")
        assert status == 0 and "VIETA" in shown, shown
    finally:
        (tmp_path / "terminal.txt").write_text(terminal.out)
        terminal.run("kill %1 %2 %3 2>/dev/null; wait", timeout=60)
        subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"],
                       capture_output=True, timeout=30, check=False)
