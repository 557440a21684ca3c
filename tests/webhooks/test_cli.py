"""``consentctl webhook …`` (in this process, through its ``main``) and the
``consent-webhooks`` console script (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from consent_store.engine import upgrade
from consentctl.cli import main

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    upgrade(sqlite_url)
    path = tmp_path / "gateway.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url}"\n[webhooks]\nmetrics_port = 0\n')
    return path


@pytest.fixture
def ctl(config: Path, capsys: pytest.CaptureFixture[str]
        ) -> Callable[..., tuple[int, str, str]]:
    def call(*args: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def test_add_list_replay_remove_and_a_bad_secret_is_a_usage_error(
        ctl: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = ctl("webhook", "add", "https://crm.example/hook", "--secret", "hunter2")
    assert code == 2
    assert "whsec_" in err

    code, out, err = ctl("webhook", "add", "https://crm.example/hook", "--secret", SECRET,
                         "--consents", "vieta,auto", "--json")
    assert code == 0, err
    sub = json.loads(out)
    assert (sub["consents"], sub["state"], sub["position"]) == (["VIETA", "AUTO"], "active", 0)
    assert SECRET not in out

    code, out, _ = ctl("webhook", "list", "--json")
    assert [w["url"] for w in json.loads(out)["webhooks"]] == ["https://crm.example/hook"]
    assert SECRET not in out
    assert ctl("webhook", "replay", str(sub["id"]), "--from", "0")[0] == 0
    assert ctl("webhook", "remove", str(sub["id"]))[0] == 0
    assert ctl("webhook", "remove", str(sub["id"]))[0] == 1
    assert json.loads(ctl("webhook", "list", "--json")[1]) == {"webhooks": []}


def test_the_deliverer_runs_once_as_installed(config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    proc = subprocess.run([str(Path(sys.executable).with_name("consent-webhooks")), "--config",
                           str(config), "run", "--once"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"webhooks.once"' in proc.stderr
