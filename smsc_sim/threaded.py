"""``SimulatorThread``: the simulator on its own event loop in a thread, for synchronous code
(pytest tests that run the gateway as a subprocess, the interactive prompt)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from smsc_sim.model import Answer, Faults, Reply, SimConfig
from smsc_sim.server import SmscSimulator

T = TypeVar("T")


class SimulatorThread:
    """Thread-safe facade over ``SmscSimulator``; every method may be called from any thread.

    ``port=0`` picks a free port; read ``.port`` after ``start()``.
    """

    def __init__(self, host: str | None = None, port: int | None = None,
                 system_id: str | None = None, password: str | None = None,
                 config: SimConfig | None = None, faults: Faults | None = None,
                 on_reply: Callable[[Reply], None] | None = None, **options: Any) -> None:
        self._cond = threading.Condition()
        self._user_on_reply = on_reply
        self.sim = SmscSimulator(host, port, system_id, password, config=config, faults=faults,
                                 on_reply=self._on_reply, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="smsc-sim", daemon=True)
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> SimulatorThread:
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise self._start_error
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.sim.port

    @property
    def host(self) -> str:
        return self.sim.config.host

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.sim.start())
        except BaseException as err:  # reported to start()'s caller
            self._start_error = err
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    def _call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        fut: Future[T] = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as err:
                fut.set_exception(err)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def _on_reply(self, reply: Reply) -> None:
        with self._cond:
            self._cond.notify_all()
        if self._user_on_reply is not None:
            self._user_on_reply(reply)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        # The predicate runs on the loop *without* our lock held: the loop thread takes the
        # lock in _on_reply, and waiting for the loop while holding it deadlocked whenever
        # a reply arrived during the check. A notify missed in between costs ≤ 50 ms.
        while not self._call(predicate):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait(min(remaining, 0.05))
        return True

    # --- operations ----------------------------------------------------------------------
    def send_mo(self, msisdn: str, text: str, **opts: Any) -> int:
        """Queue an MO (opts: coding=0/3/8, national=bool, long_mode="udh"|"payload",
        expect_reply=bool); returns its mo_id."""
        return self._call(lambda: self.sim.send_mo(msisdn, text, **opts).mo_id)

    def wait_for_bind(self, timeout: float = 10.0, receivers: int = 1) -> bool:
        return self._wait(lambda: len(self.sim.receivers) >= receivers, timeout)

    def wait_for_replies(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` complete replies have arrived in total."""
        return self._wait(lambda: self.sim.capture.replies_total >= n, timeout)

    def wait_for_acks(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``n`` MOs have been acknowledged with status 0."""
        return self._wait(lambda: self.sim.count["mo_acknowledged"] >= n, timeout)

    def wait_until(self, predicate: Callable[[SmscSimulator], bool], timeout: float) -> bool:
        """Wait until ``predicate(sim)`` holds; it runs on the simulator's loop."""
        return self._wait(lambda: predicate(self.sim), timeout)

    def replies(self) -> list[Reply]:
        return self._call(lambda: list(self.sim.capture.replies))

    def replies_for(self, msisdn: str) -> list[Reply]:
        from smsc_sim.capture import number_key
        key = number_key(msisdn)
        return self._call(lambda: [r for r in self.sim.capture.replies
                                   if number_key(r.msisdn) == key])

    def answers(self) -> list[Answer]:
        """PDUs the ESME sent that answer faults: generic_nack, error resps, unbind_resp."""
        return self._call(lambda: list(self.sim.answers))

    def events(self) -> list[dict[str, Any]]:
        return self._call(lambda: list(self.sim.events))

    def stats(self) -> dict[str, Any]:
        return self._call(self.sim.stats)

    def set_fault(self, name: str, value: Any = True) -> None:
        self._call(lambda: self.sim.set_fault(name, value))

    def set_receipts(self, on: bool) -> None:
        self._call(lambda: self.sim.set_receipts(on))

    def set_receipt_policy(self, mix: str | None = None, delay: float | None = None) -> dict[str, Any]:
        """Change the outcome mix (``DELIVRD=80,UNDELIV=20``) and/or delay of receipts;
        returns the policy now in force. ``MixError`` for a mix that cannot be read."""
        from smsc_sim.receipts import ReceiptPolicy, parse_mix

        def change() -> dict[str, Any]:
            old = self.sim.receipt_policy
            self.sim.receipt_policy = ReceiptPolicy(
                parse_mix(mix) if mix is not None else old.mix,
                old.delay if delay is None else delay)
            return self.sim.receipt_policy.as_dict()

        result: dict[str, Any] = self._call(change)
        return result

    def send_raw(self, data: bytes, conn_id: int | None = None) -> list[int]:
        return self._call(lambda: self.sim.send_raw(data, conn_id))

    def send_malformed(self, kind: str, conn_id: int | None = None) -> list[tuple[int, int]]:
        return self._call(lambda: self.sim.send_malformed(kind, conn_id))

    def unbind_all(self) -> int:
        return self._call(self.sim.unbind_all)

    def drop_connections(self) -> int:
        return self._call(self.sim.drop_connections)
