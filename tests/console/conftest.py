"""The console in a real headless browser: Debian's chromium driven by Playwright, against
``consent-api run``, a real worker, Redis and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import make_stack  # noqa: F401 (the same stack as the API tests)

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ with UPDATE_SCREENSHOTS=1 (the README and docs show
    them; only the browser tests make them), else the test's own directory."""
    return DOCS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Not session-wide: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and later tests that call asyncio.run() must not see it.
    if not shutil.which("chromium"):
        pytest.skip("chromium missing: sh scripts/need-browser.sh (or apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()
