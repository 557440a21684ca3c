"""Where a text's time goes, read from the info log lines operators already have.

The gateway logs ``mo.queued`` when a batch is in Redis and ``mt.accepted`` when the SMSC
has accepted a flush of replies; the worker logs ``batch.applied`` after its commit. Each
names every correlation id in it, so per text:

- queued → applied: RQ hand-over, the worker's transaction;
- applied → reply accepted: reply push, the gateway's pick-up, submit_sm and its response,
  plus up to one flush period (20 ms) of the ``mt.accepted`` line itself.

Arrival → queued is not in the info log (it is the batch's gathering, at most
``queue.batch_wait_ms``, and the enqueue).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

STAGES = {"queued_to_applied": ("mo.queued", "batch.applied"),
          "applied_to_accepted": ("batch.applied", "mt.accepted")}


def offsets(*paths: Path) -> dict[Path, int]:
    """Where each log ends now: read only what a step adds."""
    return {p: p.stat().st_size if p.exists() else 0 for p in paths}


def stage_latency(since: dict[Path, int]) -> dict[str, dict[str, float]]:
    """p50/p90/p99 in ms of each stage, over the texts whose lines were logged since."""
    first: dict[str, dict[str, float]] = {}
    for path, start in since.items():
        with path.open("rb") as f:
            f.seek(start)
            for raw in f:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                event = line.get("event") if isinstance(line, dict) else None
                if event not in ("mo.queued", "batch.applied", "mt.accepted"):
                    continue
                at = _seconds(str(line.get("timestamp", "")))
                if at is None:
                    continue
                seen = first.setdefault(event, {})
                for cid in line.get("correlation_ids") or []:
                    seen.setdefault(str(cid), at)
    out: dict[str, dict[str, float]] = {}
    for name, (a, b) in STAGES.items():
        starts, ends = first.get(a, {}), first.get(b, {})
        gaps = sorted(ends[c] - t for c, t in starts.items() if c in ends)
        if gaps:
            out[name] = {f"p{q}": round(gaps[int(q / 100 * (len(gaps) - 1))] * 1000, 1)
                         for q in (50, 90, 99)}
    return out


def _seconds(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def describe(stages: dict[str, Any]) -> str:
    return "  ".join(f"{k.replace('_', ' ')} p50/p90/p99 {v['p50']}/{v['p90']}/{v['p99']} ms"
                     for k, v in stages.items())
