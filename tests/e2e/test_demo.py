"""``make demo``'s script as a user runs it: every reply checked (the minor's too), no
warnings printed, and no /tmp/smsgw-demo-* work directory left behind."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def demo_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "smsgw-demo-*")))


def test_demo_checks_every_reply_and_cleans_up() -> None:
    before = demo_dirs()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGW_")}
    out = subprocess.run([sys.executable, "-m", "scripts.demo"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    # the minor's reply is checked, not empty
    assert "✓ expect 'dod vecāki vai aizbildnis, sazinoties ar LMT'" in text
    assert "== demo passed" in text
    assert "warning" not in text.lower()
    assert demo_dirs() <= before  # its own work directories are gone


def test_package_metadata_uses_an_spdx_license_string() -> None:
    # setuptools >= 77 warns about `project.license` as a table on every install.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)
