"""A TCP proxy in front of Redis for one fault: a command that Redis runs but whose answer
never reaches the client (Redis stopped, or the link to it cut, right after it ran).

- ``cut_after_exec(hold_s, containing)``: the next client chunk holding ``EXEC`` (and
  ``containing``, to pick one kind of transaction) is passed on to Redis, then that client
  connection is closed before Redis's answer is relayed.
- ``cut_answer_to(command, hold_s)``: the next answer Redis sends on a connection whose
  last request held ``command`` (a blocked ``BLMOVE``, say) is dropped, and that
  connection closed.

Either way new connections are then refused for ``hold_s`` seconds, so the client's retry
fails too, as it would against a stopped Redis."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from tests.support.servers import free_port


@dataclass
class _Conn:
    client: socket.socket
    server: socket.socket
    last_request: bytes = b""
    muted: threading.Event = field(default_factory=threading.Event)


class RedisCutProxy:
    def __init__(self, upstream_url: str) -> None:
        rest = upstream_url.split("://", 1)[1]
        hostport, _, self.db = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.port = free_port()
        self._exec_hold: float | None = None
        self._containing = b""
        self._answer_hold: float | None = None
        self._answer_to = b""
        self._refuse_until = 0.0
        self.cuts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True, name="redis-proxy").start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db or '0'}"

    def cut_after_exec(self, hold_s: float, containing: bytes = b"") -> None:
        with self._lock:
            self._exec_hold, self._containing = hold_s, containing

    def cut_answer_to(self, command: bytes, hold_s: float) -> None:
        with self._lock:
            self._answer_hold, self._answer_to = hold_s, command

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if time.monotonic() < self._refuse_until:
                client.close()  # "connection reset": Redis is away
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            conn = _Conn(client, server)
            threading.Thread(target=self._pump_up, args=(conn,), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(conn,), daemon=True).start()

    def _cut(self, conn: _Conn, hold: float) -> None:
        """Under the lock: what Redis answers on ``conn`` from now on is dropped."""
        self._refuse_until = time.monotonic() + hold
        self.cuts += 1
        conn.muted.set()

    def _pump_up(self, conn: _Conn) -> None:
        try:
            while chunk := conn.client.recv(65536):
                with self._lock:
                    conn.last_request = chunk
                    hold = self._exec_hold if b"EXEC\r\n" in chunk \
                        and self._containing in chunk else None
                    if hold is not None:
                        self._exec_hold = None
                        self._cut(conn, hold)
                conn.server.sendall(chunk)
                if hold is not None:
                    # Redis has the EXEC; the client never sees its answer.
                    conn.client.shutdown(socket.SHUT_RDWR)
                    break
        except OSError:
            pass
        finally:
            conn.client.close()
            time.sleep(0.2)  # let Redis read what was passed on before hanging up
            conn.server.close()

    def _pump_down(self, conn: _Conn) -> None:
        try:
            while chunk := conn.server.recv(65536):
                with self._lock:
                    hold = self._answer_hold if self._answer_to \
                        and self._answer_to in conn.last_request.upper() else None
                    if hold is not None:
                        self._answer_hold = None
                        self._cut(conn, hold)
                if conn.muted.is_set():
                    if hold is not None:  # Redis ran it; the client never hears of it
                        conn.client.shutdown(socket.SHUT_RDWR)
                        break
                    continue
                conn.client.sendall(chunk)
        except OSError:
            pass
        finally:
            conn.client.close()
