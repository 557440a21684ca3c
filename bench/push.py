"""``make bench`` (push): what downstream systems get, against the targets of issue 30.

Against ``consent-api run`` (and ``consent-webhooks run``) with a real worker, Redis and
PostgreSQL holding BENCH_PUSH_NUMBERS numbers (1,000,000; two consent states each, a
third of them given):

- audience: ``GET /v1/audiences/VIETA`` streamed whole, NDJSON and CSV — rows/s and the
  API's resident memory before and after (target ≥ 200,000 rows/s, memory flat);
- may-use: ``GET /v1/may-use`` offered at BENCH_PUSH_RATE (1,000/s) by ``wrk`` (Debian's
  wrk 4.1, not our code: each connection waits connections/rate between its requests) —
  p50/p99 as wrk measured them (target p99 ≤ 5 ms);
- bulk: ``POST /v1/may-use`` with 1,000 queries, one connection back to back, by ``wrk`` —
  p50/p99 (target p99 ≤ 25 ms);
- webhooks: changes given and withdrawn over the API at 20/s while ``consent-webhooks run``
  pushes them to a receiver here — from the API call to the receiver holding the event,
  p50/p99 (target p99 ≤ 1 s), and from the API's answer (the worker had committed it).

The load generator and the stack share this host's cores, so every figure is an upper
bound of what the stack itself costs. BENCH_PUSH_SECONDS (10) per wrk step.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.api import api_stack
from bench.procstat import cpu_seconds, rss_kib
from bench.reads import number, percentile, report
from bench.targets import judge_push
from tests.support.pipeline import BIN, Pipeline, Proc
from tests.support.servers import free_port

NUMBERS = int(os.environ.get("BENCH_PUSH_NUMBERS", "1000000"))
RATE = float(os.environ.get("BENCH_PUSH_RATE", "1000"))
SECONDS = int(os.environ.get("BENCH_PUSH_SECONDS", "10"))
API_WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
CONNECTIONS = 16
WRK = shutil.which("wrk") or "wrk"

# wrk's Lua hooks (wrk(1), SCRIPTING): request() builds each request, delay() is the pause
# before a connection's next request, done() prints the figures as one JSON line.
_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "p50_us": %d, '
    .. '"p99_us": %d, "max_us": %d, "errors": %d, "non_2xx": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""

_WRK_SINGLE = """
wrk.headers["Authorization"] = "Bearer %(token)s"
local n = %(numbers)d
local pause = %(pause_ms).3f
init = function(args) math.randomseed(%(seed)d + os.time()) end
request = function()
  return wrk.format("GET", string.format(
    "/v1/may-use?msisdn=3712%%07d&consent=VIETA", math.random(0, n - 1)))
end
delay = function() return pause end
"""

_WRK_BULK = """
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
init = function(args)
  math.randomseed(%(seed)d)
  for b = 1, 20 do
    local q = {}
    for i = 1, 1000 do
      q[i] = string.format('{"msisdn":"3712%%07d","consent":"JAUNUMI"}',
                           math.random(0, %(numbers)d - 1))
    end
    bodies[b] = '{"queries":[' .. table.concat(q, ",") .. ']}'
  end
end
request = function()
  return wrk.format("POST", "/v1/may-use", nil, bodies[math.random(1, #bodies)])
end
"""


def wrk(base: str, script: str, connections: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + _WRK_DONE)
        path = f.name
    try:
        out = subprocess.run([WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", path,
                              base], capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    finally:
        os.unlink(path)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    data: dict[str, Any] = json.loads(line[4:])
    return data


def may_use(base: str, token: str, api_pid: int) -> dict[str, Any]:
    # wrk waits ``pause`` after each answer before a connection's next request, so a
    # connection's cycle is the pause plus the answer's time: with the pause alone at
    # connections/rate the offered rate falls short by the latency (650 of 1,000/s).
    # Two warm-ups measure the rest of the cycle and shorten the pause by it, so the
    # measured step offers the rate it names (the served rate is reported beside it).
    cycle = CONNECTIONS / RATE * 1000  # ms between one connection's requests
    pause = cycle
    for seed in (1, 5):
        w = wrk(base, _WRK_SINGLE % {"token": token, "numbers": NUMBERS, "pause_ms": pause,
                                     "seed": seed}, CONNECTIONS, 3)
        served = w["requests"] / (w["duration_us"] / 1e6)
        rest = CONNECTIONS / max(served, 1.0) * 1000 - pause  # the answer's share
        pause = max(0.0, cycle - rest)
    cpu = cpu_seconds([api_pid])
    r = wrk(base, _WRK_SINGLE % {"token": token, "numbers": NUMBERS, "pause_ms": pause,
                                 "seed": 2}, CONNECTIONS, SECONDS)
    cpu = cpu_seconds([api_pid]) - cpu
    return {"may_use_api_cpu_ms_per_request": round(cpu * 1000 / max(1, r["requests"]), 3),
            "may_use_offered_rps": RATE, "may_use_wrk_pause_ms": round(pause, 2),
            "may_use_served_rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
            "may_use_p50_ms": r["p50_us"] / 1000, "may_use_p99_ms": r["p99_us"] / 1000,
            "may_use_max_ms": r["max_us"] / 1000, "may_use_errors": r["errors"] + r["non_2xx"],
            "may_use_target_p99_ms": 5.0}


def bulk(base: str, token: str, api_pid: int) -> dict[str, Any]:
    wrk(base, _WRK_BULK % {"token": token, "numbers": NUMBERS, "seed": 3}, 1, 3)
    cpu = cpu_seconds([api_pid])
    r = wrk(base, _WRK_BULK % {"token": token, "numbers": NUMBERS, "seed": 4}, 1, SECONDS)
    cpu = cpu_seconds([api_pid]) - cpu
    return {"bulk_1000_api_cpu_ms_per_call": round(cpu * 1000 / max(1, r["requests"]), 2),
            "bulk_1000_calls_per_s": round(r["requests"] / (r["duration_us"] / 1e6), 1),
            "bulk_1000_p50_ms": r["p50_us"] / 1000, "bulk_1000_p99_ms": r["p99_us"] / 1000,
            "bulk_1000_errors": r["errors"] + r["non_2xx"], "bulk_1000_target_p99_ms": 25.0}


def audience(base: str, token: str, api_pid: int, fmt: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if fmt == "csv":
        headers["Accept"] = "text/csv"
    rss_before = rss_kib([api_pid])
    rss_peak = rss_before
    rows = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c, \
            c.stream("GET", "/v1/audiences/VIETA") as r:
        assert r.status_code == 200, r.read()
        for chunk in r.iter_bytes():
            rows += chunk.count(b"\n")
            if rows % 50_000 < 200:
                rss_peak = max(rss_peak, rss_kib([api_pid]))
    elapsed = time.perf_counter() - started
    if fmt == "csv":
        rows -= 1  # the header
    return {f"audience_{fmt}_rows": rows,
            f"audience_{fmt}_rows_per_s": round(rows / elapsed),
            f"audience_{fmt}_api_rss_mib": f"{rss_before / 1024:.1f} -> {rss_peak / 1024:.1f}"}


def webhook_latency(p: Pipeline, base: str, admin: str, changes: int = 200) -> dict[str, Any]:
    """Changes over the API at 20/s; from sending the call to the receiver holding it."""
    arrived: queue.Queue[tuple[str, float]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            arrived.put((self.headers["webhook-id"], time.time()))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = Proc("webhooks", [str(BIN / "consent-webhooks"), "run"], p.env,
                p.workdir / "webhooks.log")
    p.procs.append(proc)
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}  # when the API answered (the worker had applied it)
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"},
                          timeout=30) as c:
            r = c.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{server.server_address[1]}/"})
            assert r.status_code == 201, r.text
            proc.start()
            time.sleep(2)  # the deliverer starts (a bench, not a test: no assertion on it)
            for i in range(changes):
                due = time.monotonic() + 0.05
                n = number(i // 2)  # given, then withdrawn: every call is a state change
                at = time.time()
                r = c.post(f"/v1/numbers/{n}/consents/AUTO",
                           json={"action": "give" if i % 2 == 0 else "withdraw", "channel": "web"},
                           headers={"Idempotency-Key": f"wh-{i}"})
                if r.status_code == 200 and r.json()["outcome"] in ("given", "withdrawn"):
                    sent[r.json()["event_id"]] = at
                    answered[r.json()["event_id"]] = time.time()
                time.sleep(max(0.0, due - time.monotonic()))
        ms: list[float] = []
        after_answer: list[float] = []
        deadline = time.monotonic() + 30
        while len(ms) < len(sent) and time.monotonic() < deadline:
            try:
                event_id, when = arrived.get(timeout=1)
            except queue.Empty:
                continue
            if event_id in sent:
                ms.append((when - sent[event_id]) * 1000)
                after_answer.append(max(0.0, when - answered[event_id]) * 1000)
    finally:
        proc.terminate()
        server.shutdown()
        server.server_close()
    return {"webhook_changes": len(sent), "webhook_delivered": len(ms),
            "webhook_p50_ms": round(percentile(ms, 50), 1) if ms else None,
            "webhook_p99_ms": round(percentile(ms, 99), 1) if ms else None,
            "webhook_after_api_answer_p50_ms":
                round(percentile(after_answer, 50), 1) if ms else None,
            "webhook_after_api_answer_p99_ms":
                round(percentile(after_answer, 99), 1) if ms else None,
            "webhook_target_p99_ms": 1000.0}


def main() -> int:
    result: dict[str, Any] = {"numbers": NUMBERS, "api_workers": API_WORKERS,
                              "load_generator": subprocess.run([WRK, "--version"],
                                                               capture_output=True, text=True,
                                                               check=False).stdout.split(" ")[1],
                              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    sections = {"api": {"port": free_port(), "workers": API_WORKERS, "rate_per_second": 0},
                "webhooks": {"metrics_port": 0}}
    with api_stack("push", NUMBERS, sections) as (p, api):
        assert api.proc.proc is not None
        pid = api.proc.proc.pid
        token = api.token("bench", "read,write")
        admin = api.token("bench-admin", "admin")
        audience(api.base, token, pid, "ndjson")  # warm the database's cache
        result |= audience(api.base, token, pid, "ndjson")
        result |= audience(api.base, token, pid, "csv")
        result |= may_use(api.base, token, pid)
        result |= bulk(api.base, token, pid)
        result |= webhook_latency(p, api.base, admin)
    report("push", result)
    print("\nAgainst the targets (bench/targets.py):")
    for verdict in judge_push(result):
        print(verdict.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
