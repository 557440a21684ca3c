"""The OpenAPI document against the API it describes: Schemathesis (``st run``, every
check, every phase including the stateful one) generates requests from ``/openapi.json``
— valid and invalid — and sends them to ``consent-api run`` with a real worker, Redis and
PostgreSQL. Every answer must be one the document allows (status, content type, headers,
body schema), invalid input must be refused and valid input accepted, never a 500.

Bounded for the suite: a fixed seed, a few examples per operation and a time budget.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_all_checks_and_phases_pass_against_the_real_api(
        postgres_url: str, make_stack: Any, tmp_path: Path) -> None:
    # The per-address throttle of unknown tokens is off here: the fuzzer sends bad tokens
    # on purpose (``ignored_auth``) and would otherwise be refused for the rest of the run;
    # the throttle has its own test (test_robustness.py). Long polls are kept short.
    _, api = make_stack(postgres_url, auth_failures_per_minute=0, changes_wait_max=0.5)
    token = api.token("fuzzer", "admin")
    report = tmp_path / "junit.xml"
    run = subprocess.run(
        [str(ST), "--config-file", str(CONFIG), "run", f"{api.base}/openapi.json",
         "--checks", "all",
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "12",
         "--seed", "26", "--workers", "1", "--request-timeout", "15",
         "--header", f"Authorization: Bearer {token}", "--no-color",
         "--suppress-health-check", "too_slow,filter_too_much",
         "--report", "junit", "--report-junit-path", str(report)],
        capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
    print(run.stdout[-2500:])  # the phases and their times (pytest -s shows them)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Stateful" in run.stdout, run.stdout[-3000:]
