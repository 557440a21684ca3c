"""The performance targets ``make bench`` is judged against, each printed with its figure.

The targets (issue 27, on the durable setup: PostgreSQL as shipped, SQLite with
``synchronous = FULL``): saturation at least 40 % of the SMPP round-trip ceiling measured
in the same run; at an offered 500/s at most 1.5 ms of CPU a text, all processes
together; p99 MO→MT at most 50 ms at 500/s and 100 ms at 1,000/s; SQLite at least as fast
as PostgreSQL; nothing lost or doubled in any step. A row of ``bench/run.py`` is the input;
a target whose step was not run is reported as not measured, never as met.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SATURATION_SHARE = 0.40
CPU_MS_AT_500 = 1.5
P99_MS = {500.0: 50.0, 1000.0: 100.0}


@dataclass(frozen=True)
class Verdict:
    target: str
    figure: str
    met: bool | None  # None: the step was not run

    def line(self) -> str:
        mark = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return f"{mark:>12}  {self.target}: {self.figure}"


def saturation_share(row: dict[str, Any]) -> float | None:
    """A saturation row's end-to-end rate over the mean round-trip ceiling around it."""
    trips = row.get("round_trip_per_s") or []
    if row.get("offered_rate") != "max" or not trips:
        return None
    ceiling = sum(trips) / len(trips)
    return float(row["end_to_end_per_s"]) / ceiling if ceiling else None


def judge(rows: Iterable[dict[str, Any]]) -> list[Verdict]:
    rows = list(rows)
    out: list[Verdict] = []
    shares: dict[tuple[str, int], float] = {}
    for r in rows:
        share = saturation_share(r)
        if share is not None:
            shares[(r["db"], int(r.get("shards") or 1))] = share
    for db in sorted({r["db"] for r in rows}):
        mine = [r for r in rows if r["db"] == db]
        for (d, shards), share in sorted(shares.items()):
            if d == db:
                out.append(Verdict(f"{db}, {shards} shard(s): saturation ≥ "
                                   f"{SATURATION_SHARE:.0%} of the round-trip ceiling",
                                   f"{share:.1%}", share >= SATURATION_SHARE))
        at500 = _at(mine, 500.0)
        out.append(Verdict(f"{db}: CPU a text at 500/s ≤ {CPU_MS_AT_500} ms, all processes",
                           "-" if at500 is None else f"{at500['cpu_ms_total']:.2f} ms",
                           None if at500 is None else at500["cpu_ms_total"] <= CPU_MS_AT_500))
        for rate, bound in P99_MS.items():
            at = _at(mine, rate)
            p99 = None if at is None else at.get("p99_ms")
            out.append(Verdict(f"{db}: p99 MO→MT at {rate:.0f}/s ≤ {bound:.0f} ms",
                               "-" if p99 is None else f"{p99:.1f} ms",
                               None if p99 is None else float(p99) <= bound))
        lost = sum(int(r.get("lost") or 0) for r in mine)
        doubled = sum(int(r.get("doubled") or 0) for r in mine)
        out.append(Verdict(f"{db}: 0 lost, 0 doubled in every step",
                           f"{lost} lost, {doubled} doubled", lost == 0 and doubled == 0))
    pairs = [(shares.get(("sqlite", n)), shares.get(("postgresql", n)), n)
             for n in sorted({n for _, n in shares})]
    for lite, pg, n in pairs:
        if lite is None or pg is None:
            continue
        out.append(Verdict(f"SQLite at least as fast as PostgreSQL at saturation, {n} "
                           f"shard(s)", f"{lite:.1%} against {pg:.1%} of the ceiling",
                           lite >= pg))
    return out


def _at(rows: list[dict[str, Any]], rate: float) -> dict[str, Any] | None:
    for r in rows:
        if r.get("offered_rate") == rate:
            return r
    return None


def print_verdicts(rows: Iterable[dict[str, Any]]) -> None:
    print("\nAgainst the targets (bench/targets.py):")
    for v in judge(rows):
        print(v.line())


# Issue 30's targets for what downstream systems get (``bench/push.py``), at 1,000,000
# numbers on PostgreSQL; a run at fewer numbers is judged too, and says how many.
PUSH_MAY_USE_P99_MS = 5.0
PUSH_BULK_P99_MS = 25.0
PUSH_AUDIENCE_ROWS_PER_S = 200_000
PUSH_WEBHOOK_P99_MS = 1000.0


def judge_push(r: dict[str, Any]) -> list[Verdict]:
    """The push bench's figures against issue 30's targets."""
    n = f"{int(r['numbers']):,} numbers"
    out = [Verdict(f"may-use p99 at {r['may_use_offered_rps']:.0f}/s offered ≤ "
                   f"{PUSH_MAY_USE_P99_MS:g} ms ({n}, {r['load_generator']})",
                   f"{r['may_use_p99_ms']:.1f} ms (served {r.get('may_use_served_rps', 0):.0f}/s)",
                   r["may_use_p99_ms"] <= PUSH_MAY_USE_P99_MS),
           Verdict(f"bulk of 1,000 p99 ≤ {PUSH_BULK_P99_MS:g} ms ({n})",
                   f"{r['bulk_1000_p99_ms']:.1f} ms", r["bulk_1000_p99_ms"] <= PUSH_BULK_P99_MS)]
    for fmt in ("ndjson", "csv"):
        rate = r[f"audience_{fmt}_rows_per_s"]
        out.append(Verdict(f"audience {fmt} ≥ {PUSH_AUDIENCE_ROWS_PER_S:,} rows/s "
                           f"({r[f'audience_{fmt}_rows']:,} rows)", f"{rate:,} rows/s",
                           rate >= PUSH_AUDIENCE_ROWS_PER_S))
    p99 = r.get("webhook_p99_ms")
    out.append(Verdict(f"webhook p99, API call → receiver ≤ {PUSH_WEBHOOK_P99_MS:g} ms",
                       "-" if p99 is None else f"{p99:.1f} ms",
                       None if p99 is None else p99 <= PUSH_WEBHOOK_P99_MS))
    return out

