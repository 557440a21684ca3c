"""``python -m bench.sign_in_spray``: what a spray of console sign-ins costs the API.

64 sign-in attempts with a new agent name each, 16 at once — each from its own source
address (127.0.1.x), the worst case for a per-address limit — against ``consent-api run``
with PostgreSQL and Redis; meanwhile may-use is asked in a loop. Printed: the API
process's resident memory before and at its peak (VmHWM), may-use latency before and
during the spray, and how the attempts were answered. Issue 26 measured the per-name
limit this replaced: 113 → 1,196 MiB, may-use 14 ms → over a second.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.api import api_stack
from bench.reads import percentile, report
from tests.support.servers import free_port

TRIES, AT_ONCE = 64, 16


def rss_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) if found else 0


def attempt(base: str, i: int) -> int:
    transport = httpx.HTTPTransport(local_address=f"127.0.1.{i % 250 + 1}")
    with httpx.Client(base_url=base, transport=transport, timeout=60) as c:
        form = c.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        return c.post("/console/login", data={"name": f"sprayed{i}", "password": "guess",
                                               "csrf": token.group(1)}).status_code


def may_use_ms(base: str, token: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as c:
        while not stop.is_set():
            started = time.perf_counter()
            c.get("/v1/may-use", params={"msisdn": "37129000001", "consent": "VIETA"})
            out.append((time.perf_counter() - started) * 1000)


def main() -> int:
    # The API alone over a small directory (api_stack: private durable PostgreSQL, Redis,
    # one worker; everything stopped and removed after).
    with api_stack("spray", 1_000, {"api": {"port": free_port(), "rate_per_second": 0}}
                   ) as (_, api):
        token = api.token("bench", "read")
        assert api.proc.proc is not None
        pid = api.proc.proc.pid
        quiet: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=may_use_ms, args=(api.base, token, stop, quiet))
        t.start()
        time.sleep(3)
        stop.set()
        t.join()
        before = rss_kib(pid, "VmRSS")
        loaded: list[float] = []
        stop = threading.Event()
        t = threading.Thread(target=may_use_ms, args=(api.base, token, stop, loaded))
        t.start()
        started = time.monotonic()
        with ThreadPoolExecutor(AT_ONCE) as pool:
            statuses = list(pool.map(lambda i: attempt(api.base, i), range(TRIES)))
        spray_s = time.monotonic() - started
        stop.set()
        t.join()
        result: dict[str, Any] = {
            "tries": TRIES, "at_once": AT_ONCE, "spray_s": round(spray_s, 1),
            "answers": {str(s): statuses.count(s) for s in sorted(set(statuses))},
            "rss_before_mib": round(before / 1024, 1),
            "rss_peak_mib": round(rss_kib(pid, "VmHWM") / 1024, 1),
            "may_use_p50_ms_before": round(percentile(quiet, 50), 1),
            "may_use_p50_ms_during": round(percentile(loaded, 50), 1),
            "may_use_max_ms_during": round(max(loaded), 1),
        }
    report("sign_in_spray", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
