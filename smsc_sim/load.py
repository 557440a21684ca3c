"""Load mode: offer N texts from M numbers at a fixed rate (or as fast as the window allows),
wait for the replies, and report throughput and MO→MT latency. Also the simulator's own
ceiling against a minimal acknowledging ESME."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smsc_sim.model import Mo, SimConfig
from smsc_sim.server import SmscSimulator

COMMANDS = ["JAUNUMI", "METADATI", "AUTO", "VIETA", "SADARBIBA"]
# What subscribers really type: case, stray spaces, punctuation, Latvian letters (UCS2).
VARIANTS = ["jaunumi", " Jaunumi  stop ", "VIETA STOP!", "Sadarbība", "sadarbība stop",
            "vieta.", "Auto Stop", "metadati"]
UNKNOWN = ["HELLO", "kas tas?", "STOP", "INFO", "Paldies!", "😀", "VIETA VIETA", "1234"]


class LoadError(Exception):
    """Load mode cannot run (no ESME bound, ...)."""


@dataclass(frozen=True)
class LoadOptions:
    count: int = 1000
    numbers: int = 100
    rate: float = 0.0  # MO per second; 0 = as fast as the window allows
    bind_timeout: float = 30.0
    drain_timeout: float = 10.0  # wait this long for replies (and acks) after the last MO
    expect_replies: bool = True
    seed: int = 1
    receivers: int = 1  # binds to wait for before starting


def text_mix(rng: random.Random) -> str:
    """~80% exact commands (give/withdraw), ~15% spelling variants, ~5% unknown texts."""
    r = rng.random()
    if r < 0.05:
        return rng.choice(UNKNOWN)
    if r < 0.20:
        return rng.choice(VARIANTS)
    consent = rng.choice(COMMANDS)
    return consent if rng.random() < 0.5 else consent + " STOP"


def number_list(m: int) -> list[str]:
    """M distinct Latvian mobile numbers (3712xxxxxxx)."""
    return [f"3712{i * 7919 % 10_000_000:07d}" for i in range(m)]


def _source(sim: SmscSimulator, opts: LoadOptions, numbers: list[str],
            rng: random.Random) -> Iterator[Mo]:
    cache: dict[str, Mo] = {}
    for _ in range(opts.count):
        text = text_mix(rng)
        msisdn = rng.choice(numbers)
        template = cache.get(text)
        if template is None:
            template = cache[text] = sim.make_mo("37120000000", text)
        yield sim.clone_mo(template, msisdn)


async def run_load(sim: SmscSimulator, opts: LoadOptions) -> dict[str, Any]:
    """Drive ``sim`` (already started) and return the report."""
    if not await sim.wait_for_bind(opts.bind_timeout, opts.receivers):
        raise LoadError(f"no ESME bound as receiver within {opts.bind_timeout:g} s")
    rng = random.Random(opts.seed)
    numbers = number_list(opts.numbers)
    base = dict(sim.count)
    replies0 = sim.capture.replies_total
    start = time.perf_counter()
    source = _source(sim, opts, numbers, rng)
    if opts.rate <= 0:
        sim.source_expects_reply = opts.expect_replies
        sim.source = source
        sim.pump()
    else:
        offered = 0
        tick = min(0.005, 1.0 / opts.rate)
        while offered < opts.count:
            due = min(opts.count, int((time.perf_counter() - start) * opts.rate) + 1)
            while offered < due:
                mo = next(source)
                sim.offer(mo, opts.expect_replies)
                offered += 1
            sim.pump()
            await asyncio.sleep(tick)

    def acked() -> int:
        return (sim.count["mo_acknowledged"] + sim.count["mo_failed"]
                - base.get("mo_acknowledged", 0) - base.get("mo_failed", 0))

    # Wait for every MO to be acknowledged (or given up), as long as there is progress.
    last, last_change = -1, time.monotonic()
    while acked() < opts.count:
        await sim.wait_for(lambda: acked() >= opts.count, 0.2)
        now = acked()
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > max(opts.drain_timeout, 1.0):
            break
    offered_end = time.perf_counter()
    if opts.expect_replies:
        await sim.wait_for(
            lambda: sim.capture.replies_total - replies0 >= acked(), opts.drain_timeout)
    end = time.perf_counter()

    count = sim.count
    acknowledged = count["mo_acknowledged"] - base.get("mo_acknowledged", 0)
    replies = sim.capture.replies_total - replies0
    ack_span = max((sim.last_ack_at or offered_end) - start, 1e-9)
    reply_span = max((sim.capture.last_reply_at or end) - start, 1e-9)
    latency = sim.capture.latency_summary()
    return {
        "offered": opts.count,
        "numbers": opts.numbers,
        "rate_offered": opts.rate,
        "window": sim.config.window,
        "receivers": len(sim.receivers),
        "acknowledged": acknowledged,
        "failed": count["mo_failed"] - base.get("mo_failed", 0),
        "temp_errors": count["temp_errors"] - base.get("temp_errors", 0),
        "redelivered": count["redeliveries"] - base.get("redeliveries", 0),
        "deliver_sm_sent": count["deliver_sm_sent"] - base.get("deliver_sm_sent", 0),
        "mo_per_s_acknowledged": round(acknowledged / ack_span, 1),
        "replies": replies,
        "replies_per_s": round(replies / reply_span, 1) if replies else 0.0,
        "latency_ms": {k: (round(v, 2) if v is not None else None) for k, v in latency.items()},
        "unanswered": sim.capture.unanswered() if opts.expect_replies else None,
        "answered_twice": sim.capture.answered_twice,
        "unsolicited_replies": sim.capture.unsolicited,
        "submit_sm_throttled": count["submit_sm_throttled"],
        "submit_sm_qfull": count["submit_sm_qfull"],
        "duration_s": round(end - start, 3),
    }


def format_report(report: dict[str, Any]) -> str:
    lat = report["latency_ms"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    rows = [
        ("offered", report["offered"]),
        ("rate offered /s", report["rate_offered"] or "max (window)"),
        ("window / receivers", f"{report['window']} / {report['receivers']}"),
        ("acknowledged", report["acknowledged"]),
        ("failed (gave up)", report["failed"]),
        ("temp errors / redelivered", f"{report['temp_errors']} / {report['redelivered']}"),
        ("MO/s acknowledged", report["mo_per_s_acknowledged"]),
        ("replies", report["replies"]),
        ("replies/s", report["replies_per_s"]),
        ("MO→MT latency ms p50/p90/p99/max",
         f"{ms(lat['p50'])} / {ms(lat['p90'])} / {ms(lat['p99'])} / {ms(lat['max'])}"),
        ("unanswered", report["unanswered"] if report["unanswered"] is not None else "-"),
        ("answered twice", report["answered_twice"]),
        ("unsolicited replies", report["unsolicited_replies"]),
        ("duration s", report["duration_s"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


async def run_ceiling(count: int = 100_000, window: int = 100,
                      receivers: int = 1) -> dict[str, Any]:
    """The simulator's own deliver_sm/s against minimal acknowledging ESMEs (subprocesses)."""
    sim = SmscSimulator(config=SimConfig(port=0, window=window, receipts=False,
                                         keep_history=False))
    await sim.start()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    procs = [subprocess.Popen([sys.executable, "-m", "smsc_sim.esme", "--port", str(sim.port)],
                              env=env, stdout=subprocess.DEVNULL)
             for _ in range(receivers)]
    try:
        report = await run_load(sim, LoadOptions(count=count, numbers=min(count, 50_000),
                                                 expect_replies=False, drain_timeout=5.0,
                                                 receivers=receivers))
    finally:
        await sim.stop()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    report["ceiling_deliver_sm_per_s"] = report["mo_per_s_acknowledged"]
    report["cpus"] = os.cpu_count()
    return report
