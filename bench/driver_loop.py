"""Which loop should own an SMPP connection: one I/O thread, or an asyncio event loop?

Both drive the same ``smpp.Session`` against ``smsc-sim load`` at saturation, with the same
work around them as the gateway has: an inbound thread that answers each burst of texts
with one ``respond`` and an outbound thread that submits one reply per text within the
window. Those threads stay (the Redis clients are blocking); what differs is who owns the
socket and how the threads' commands reach it:

- ``thread``: the gateway's driver, ``gateway.smpp_link.SmppLink`` — a non-blocking socket
  in ``select`` with a socketpair that posted commands wake;
- ``asyncio``: an ``asyncio.Protocol`` on an event loop in its own thread, the commands
  posted with ``call_soon_threadsafe`` (which wakes the loop through its own self-pipe).

Reported per run: the ESME process's CPU per text (getrusage: user + system, both loops'
threads and the application's), the texts/s acknowledged and answered, and the MO→MT
latency the simulator measured. Runs alternate between the two, so a busy machine
weighs on both alike; the medians are printed.

    python -m bench.driver_loop [--runs 5] [--count 20000] [--rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.errors import LinkError
from gateway.smpp_link import SmppLink
from smpp import codec
from smpp import constants as c
from smpp import session as sm

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class App:
    """What the gateway does around its driver, reduced to the SMPP part."""

    def __init__(self) -> None:
        self.link: Any = None
        self.cond = threading.Condition()
        self.arrivals: deque[sm.Deliver] = deque()
        self.due: deque[str] = deque()  # numbers owed a reply
        self.closed = threading.Event()

    # handler (the driver's thread)
    def on_deliver(self, link: Any, ev: sm.Deliver) -> None:
        with self.cond:
            self.arrivals.append(ev)
            self.cond.notify_all()

    def on_response(self, link: Any, ev: Any) -> None:
        with self.cond:
            self.cond.notify_all()  # a window slot is free

    def on_protocol_error(self, link: Any, ev: Any) -> None:
        pass

    def on_closed(self, link: Any, reason: str) -> None:
        if link is not self.link:
            return  # an attempt that never bound
        self.closed.set()
        with self.cond:
            self.cond.notify_all()

    # the application's threads
    def inbound(self) -> None:
        while not self.closed.is_set():
            with self.cond:
                while not self.arrivals and not self.closed.is_set():
                    self.cond.wait(0.5)
                taken = list(self.arrivals)
                self.arrivals.clear()
            if not taken:
                continue
            self.link.respond([(ev.sm.sequence, 0) for ev in taken])
            with self.cond:
                self.due.extend(ev.sm.source_addr for ev in taken
                                if ev.kind == sm.DeliverKind.TEXT)
                self.cond.notify_all()

    def outbound(self) -> None:
        while not self.closed.is_set():
            with self.cond:
                while not self.closed.is_set() and not (self.due and self.link.window_free):
                    self.cond.wait(0.5)
                room = self.link.window_free
                batch = [self.due.popleft() for _ in range(min(room, len(self.due)))]
            if batch:
                sent = self.link.submit([(_frame(n), None) for n in batch], timeout=30.0)
                if len(sent) < len(batch):
                    with self.cond:
                        self.due.extendleft(reversed(batch[len(sent):]))


def _frame(number: str) -> Callable[[int], bytes]:
    def frame_for(seq: int) -> bytes:
        return codec.encode_submit_sm(seq, "29307777", 0, 1, number, 1, 1, 0, 0, b"OK")
    return frame_for


class AsyncLink:
    """The same session on an asyncio loop (the alternative measured against SmppLink)."""

    def __init__(self, host: str, port: int, handler: App) -> None:
        self.host, self.port, self.handler = host, port, handler
        self.session = sm.Session(sm.Role.ESME, window=10, response_timeout=30.0,
                                  enquire_link_interval=30.0, now=time.monotonic())
        self.loop = asyncio.new_event_loop()
        self.transport: asyncio.Transport | None = None
        self.bound = threading.Event()
        self._window_free = 0
        threading.Thread(target=self.loop.run_forever, daemon=True, name="asyncio").start()

    @property
    def window_free(self) -> int:
        return self._window_free

    def open(self) -> None:
        link = self

        class Proto(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                link.transport = transport

            def data_received(self, data: bytes) -> None:
                link._step(data)

            def connection_lost(self, exc: Exception | None) -> None:
                link.session.close("closed")
                link.handler.on_closed(link, "closed")

        async def start() -> None:
            await self.loop.create_connection(Proto, self.host, self.port)
            self.session.bind("transceiver", "consentgw", "secret", time.monotonic())
            self._flush()
            self.loop.call_later(1.0, self._tick)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.bound.wait(30)

    def _tick(self) -> None:
        self._step(None)
        if not self.session.closed:
            self.loop.call_later(1.0, self._tick)

    def _step(self, data: bytes | None) -> None:
        now = time.monotonic()
        events = self.session.receive_data(data, now) if data is not None else []
        events += self.session.tick(now)
        self._flush()
        for ev in events:
            if isinstance(ev, sm.Bound):
                self.bound.set()
            elif isinstance(ev, sm.Deliver):
                self.handler.on_deliver(self, ev)
            elif isinstance(ev, sm.Response | sm.RequestFailed | sm.TimedOut):
                self.handler.on_response(self, ev)
            elif isinstance(ev, sm.LinkDead | sm.Unbound) and self.transport is not None:
                self.transport.close()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        self._window_free = self.session.window_free if self.session.bound else 0

    def _call(self, run: Callable[[], Any]) -> Any:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                fut.set_result(run())
            finally:
                self._flush()
        self.loop.call_soon_threadsafe(on_loop)
        return fut.result(30)

    def respond(self, pairs: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        items = list(pairs)
        result: list[tuple[int, int]] = self._call(
            lambda: [(s, st) for s, st in items if self.session.respond(s, st)])
        return result

    def submit(self, frames: list[tuple[Callable[[int], bytes], Any]], timeout: float) -> list[int]:
        def run() -> list[int]:
            seqs: list[int] = []
            now = time.monotonic()
            for frame_for, ctx in frames:
                if not self.session.bound or self.session.window_free <= 0:
                    break
                seqs.append(self.session.send_request(c.SUBMIT_SM, frame_for, now,
                                                      context=ctx, timeout=timeout))
            return seqs
        result: list[int] = self._call(run)
        return result


def esme(driver: str, port: int) -> int:
    """One ESME run: bind, serve until the simulator closes the link, print CPU used."""
    app = App()
    deadline = time.monotonic() + 30
    while True:  # until the simulator listens
        try:
            if driver == "thread":
                app.link = SmppLink("127.0.0.1", port, conn_id="bench", handler=app,
                                    window=10, response_timeout=30.0,
                                    enquire_link_interval=30.0)
                app.closed.clear()  # an earlier attempt's close is no news
                app.link.open("transceiver", "consentgw", "secret", "", timeout=5.0)
            else:
                app.link = AsyncLink("127.0.0.1", port, app)
                app.closed.clear()
                app.link.open()
            break
        except (OSError, LinkError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    start = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=app.inbound, daemon=True),
               threading.Thread(target=app.outbound, daemon=True)]
    for t in threads:
        t.start()
    app.closed.wait()
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    print(json.dumps({"cpu_s": cpu}))
    return 0


def one_run(driver: str, count: int, rate: float) -> dict[str, Any]:
    from tests.support.servers import free_port

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="smsgw-driver-"))
    report = work / "load.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.driver_loop", "--esme", driver,
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        subprocess.run([str(BIN / "smsc-sim"), "--port", str(port), "--log-level", "warning",
                        "load", "--count", str(count), "--numbers", "5000", "--rate", str(rate),
                        "--window", "100", "--drain-timeout", "30", "--bind-timeout", "60",
                        "--report", str(report)], check=True, capture_output=True, timeout=600)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    data: dict[str, Any] = json.loads(report.read_text())
    cpu = json.loads(out.decode().strip().splitlines()[-1])["cpu_s"]
    lat = data.get("latency_ms") or {}
    return {"driver": driver, "cpu_us_per_text": round(cpu / count * 1e6, 1),
            "texts_per_s": float(data.get("replies_per_s") or 0),
            "p50_ms": lat.get("p50"), "p99_ms": lat.get("p99")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="texts/s the simulator offers; 0 (default): as fast as its window "
                    "allows (CPU at saturation); e.g. 1000 for latency below it")
    ap.add_argument("--esme", choices=["thread", "asyncio"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.esme:
        return esme(args.esme, args.port)
    rows: list[dict[str, Any]] = []
    for i in range(args.runs):
        for driver in (("thread", "asyncio") if i % 2 == 0 else ("asyncio", "thread")):
            rows.append(one_run(driver, args.count, args.rate))
            print(json.dumps(rows[-1]), flush=True)
    offered = f"{args.rate:.0f}/s" if args.rate else "as fast as the window allows"
    print(f"\nmedians of {args.runs} runs each, {args.count} texts a run, offered {offered}:")
    for driver in ("thread", "asyncio"):
        mine = [r for r in rows if r["driver"] == driver]

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(float(r[key] or 0) for r in mine))
        print(f"  {driver:8s} CPU {med('cpu_us_per_text'):6.1f} µs/text  "
              f"{med('texts_per_s'):7.0f} texts/s  MO→MT p50 {med('p50_ms'):7.1f} ms  "
              f"p99 {med('p99_ms'):7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
