"""consentctl's start-up: a run loads only its command's module (COMMAND_MODULES), help
and a mistyped command still see every command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from consentctl import cli
from tests.ctl import test_cli
from tests.ctl.test_cli import Ctl

sqlite_ctl = test_cli.sqlite_ctl


def _registered_by(module: object) -> list[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    module.register(sub, argparse.ArgumentParser(add_help=False))  # type: ignore[attr-defined]
    return list(sub.choices)


def test_the_command_table_names_each_command_s_own_module() -> None:
    found = {name: module.__name__.removeprefix("consentctl.")
             for module in cli._command_modules() for name in _registered_by(module)}
    assert found == cli.COMMAND_MODULES


def test_the_command_is_found_after_the_global_config_option() -> None:
    assert cli._only_module(["--config", "x.toml", "show", "1"]) == "consents"
    assert cli._only_module(["--config=x.toml", "jobs", "failed"]) == "jobs"
    assert cli._only_module(["--help"]) is None
    assert cli._only_module(["shw", "1"]) is None
    assert cli._only_module([]) is None


_PROBE = """
import json, sys
from consentctl.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("redis", "rq", "structlog")
                                                 if m in sys.modules)}))
"""


def _probe(ctl: Ctl, *args: str) -> dict[str, object]:
    run = subprocess.run([sys.executable, "-c", _PROBE, "--config", str(ctl.config), *args],
                         capture_output=True, text=True, cwd=ctl.tmp, env=ctl.env, timeout=60)
    result: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_show_runs_without_loading_the_queue_libraries(sqlite_ctl: Ctl) -> None:
    assert _probe(sqlite_ctl, "show", "29123456") == {"code": cli.EXIT_NOT_FOUND, "loaded": []}


def test_a_mistyped_command_is_answered_with_every_command(sqlite_ctl: Ctl, tmp_path: Path) -> None:
    run = sqlite_ctl("shw", "29123456")
    assert run.returncode == cli.EXIT_USAGE
    for name in cli.COMMAND_MODULES:
        assert f"'{name}'" in run.stderr
