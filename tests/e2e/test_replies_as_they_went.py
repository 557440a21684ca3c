"""Replies as they really went, through the real processes: a reply withheld by the
per-number limit is recorded ``suppressed`` with the reason; the ledger still verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.e2e

LMT = "37129000001"


def test_reply_over_the_per_number_limit_is_recorded_suppressed_with_the_reason(
        postgres_url: str, make_pipeline, sim: SimulatorThread, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p: Pipeline = make_pipeline(postgres_url, limits={"replies_per_minute": 2,
                                                      "replies_per_day": 20})
    (tmp_path / "dir.csv").write_text(f"msisdn,client_group\n{LMT},lmt\n")
    p.ctl("subscribers", "import", str(tmp_path / "dir.csv"))
    p.gateway()
    p.worker()
    assert sim.wait_for_bind(20)
    for text in ("VIETA", "VIETA STOP", "VIETA", "VIETA STOP"):
        sim.send_mo(LMT, text)

    def fates() -> list[tuple[str, str | None]]:
        data = json.loads(p.ctl("export", LMT, "--json").stdout)
        return sorted((r["fate"], r["reason"]) for r in data["replies"])

    def settled() -> bool:
        return [f for f, _ in fates()].count("suppressed") == 2 and \
            all(f in ("accepted", "delivered", "suppressed") for f, _ in fates())

    assert wait_until(settled, 30), fates()
    assert wait_until(lambda: len(sim.replies_for(LMT)) == 2, 10)
    suppressed = [r for f, r in fates() if f == "suppressed"]
    assert all(r is not None and "per-number reply limit" in r for r in suppressed)
    verify = p.ctl("verify", LMT, "--json", check=False)
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["rows"] == 4
