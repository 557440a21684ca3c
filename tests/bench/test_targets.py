"""``make bench`` judges its rows against the issue's targets: table cases."""

from __future__ import annotations

from typing import Any

import pytest

from bench.targets import judge


def step(db: str, rate: float | str, *, p99: float = 40.0, cpu: float = 1.0, lost: int = 0,
         doubled: int = 0, e2e: float = 0.0, trips: list[float] | None = None,
         shards: int = 2) -> dict[str, Any]:
    return {"db": db, "shards": shards, "offered_rate": rate, "p99_ms": p99,
            "cpu_ms_total": cpu, "lost": lost, "doubled": doubled,
            "end_to_end_per_s": e2e, "round_trip_per_s": trips or []}


def verdicts(rows: list[dict[str, Any]]) -> dict[str, bool | None]:
    return {v.target: v.met for v in judge(rows)}


GOOD = [step("postgresql", 500.0), step("postgresql", 1000.0, p99=90.0),
        step("postgresql", "max", e2e=2100.0, trips=[5000.0, 5000.0])]


def test_every_target_met_is_reported_met() -> None:
    got = verdicts(GOOD)
    assert got and all(got.values()), got


@pytest.mark.parametrize(("change", "target"), [
    ({0: {"p99_ms": 50.1}}, "postgresql: p99 MO→MT at 500/s ≤ 50 ms"),
    ({1: {"p99_ms": 100.5}}, "postgresql: p99 MO→MT at 1000/s ≤ 100 ms"),
    ({0: {"cpu_ms_total": 1.6}}, "postgresql: CPU a text at 500/s ≤ 1.5 ms, all processes"),
    ({2: {"end_to_end_per_s": 1999.0}},
     "postgresql, 2 shard(s): saturation ≥ 40% of the round-trip ceiling"),
    ({1: {"doubled": 1}}, "postgresql: 0 lost, 0 doubled in every step"),
    ({2: {"lost": 3}}, "postgresql: 0 lost, 0 doubled in every step"),
])
def test_a_figure_past_its_bound_is_reported_missed(change: dict[int, dict[str, Any]],
                                                     target: str) -> None:
    rows = [dict(r, **change.get(i, {})) for i, r in enumerate(GOOD)]
    got = verdicts(rows)
    assert got[target] is False
    assert sum(v is False for v in got.values()) == 1, got


def test_a_step_not_run_is_not_measured_rather_than_met() -> None:
    got = verdicts([GOOD[2]])
    assert got["postgresql: p99 MO→MT at 500/s ≤ 50 ms"] is None
    assert got["postgresql: CPU a text at 500/s ≤ 1.5 ms, all processes"] is None


def test_sqlite_slower_than_postgresql_at_saturation_is_missed() -> None:
    lite = step("sqlite", "max", e2e=2000.0, trips=[4000.0, 4000.0])
    pg = step("postgresql", "max", e2e=2400.0, trips=[4000.0, 4000.0])
    got = verdicts([lite, pg])
    assert got["SQLite at least as fast as PostgreSQL at saturation, 2 shard(s)"] is False
