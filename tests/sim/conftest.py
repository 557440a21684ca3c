"""Fixtures for the simulator's tests: an in-process simulator and smpplib ESMEs on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import smpplib.client
import smpplib.exceptions

from smsc_sim.threaded import SimulatorThread


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """A simulator on a free port with fast redelivery (so tests need not wait)."""
    s = SimulatorThread(port=0, retry_min=0.05, retry_max=0.2, unbind_timeout=1.0)
    s.start()
    yield s
    s.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Handler = Callable[["Esme", Any], int | None]


class Esme:
    """smpplib's Client bound to the simulator, listening in a thread.

    ``handler(esme, pdu)`` runs for every deliver_sm on the listening thread (where smpplib
    may safely send); its return value is the deliver_sm_resp status.
    """

    def __init__(self, port: int, mode: str = "transceiver", handler: Handler | None = None,
                 system_id: str = "consentgw", password: str = "secret") -> None:  # noqa: S107
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=5,
                                            allow_unknown_opt_params=True)
        self.received: list[Any] = []
        self.sent_resps: list[Any] = []
        self.handler = handler
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.client.set_message_received_handler(self._on_message)
        self.client.set_message_sent_handler(lambda pdu, **kw: self.sent_resps.append(pdu))
        # smpplib calls the error handler and then the sent handler for an error resp:
        # record it once, and do not raise out of listen() (SPEC §8).
        self.client.set_error_pdu_handler(lambda pdu: None)
        self.client.connect()
        getattr(self.client, f"bind_{mode}")(system_id=system_id, password=password)
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _on_message(self, pdu: Any, **kw: Any) -> int | None:
        with self.lock:
            self.received.append(pdu)
        if self.handler is not None:
            return self.handler(self, pdu)
        return None

    def _listen(self) -> None:
        try:
            self.client.listen()
        except (smpplib.exceptions.ConnectionError, OSError, ValueError) as err:
            self.error = err
        except Exception as err:  # recorded for the test to inspect
            self.error = err

    def reply(self, pdu: Any, text: bytes) -> None:
        self.client.send_message(
            source_addr_ton=3, source_addr="29307777", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=pdu.source_addr.decode(), short_message=text)

    def close(self) -> None:
        try:
            self.client.disconnect()
        except Exception:  # noqa: S110 - best effort at teardown
            pass


@pytest.fixture
def esmes() -> Iterator[list[Esme]]:
    made: list[Esme] = []
    yield made
    for e in made:
        e.close()


def wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
