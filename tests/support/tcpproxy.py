"""A TCP proxy in front of Redis for one fault: a transaction that Redis runs but whose
answer never reaches the client (Redis stopped, or the link cut, right after EXEC).

``cut_after_exec(hold_s, containing)`` arms it: the next client chunk holding ``EXEC`` (and
``containing``, to pick one kind of transaction) is passed on
to Redis, then that client connection is closed before Redis's reply is relayed, and new
connections are refused for ``hold_s`` seconds (so the client's retry fails too, as it
would against a stopped Redis)."""

from __future__ import annotations

import socket
import threading
import time

from tests.support.servers import free_port


class RedisCutProxy:
    def __init__(self, upstream_url: str) -> None:
        rest = upstream_url.split("://", 1)[1]
        hostport, _, self.db = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.port = free_port()
        self._armed_hold: float | None = None
        self._containing = b""
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
            self._armed_hold, self._containing = hold_s, containing

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
            muted = threading.Event()  # set: Redis's answers on this connection are dropped
            threading.Thread(target=self._pump_up, args=(client, server, muted),
                             daemon=True).start()
            threading.Thread(target=self._pump_down, args=(server, client, muted),
                             daemon=True).start()

    def _pump_up(self, client: socket.socket, server: socket.socket,
                 muted: threading.Event) -> None:
        try:
            while chunk := client.recv(65536):
                with self._lock:
                    hold = self._armed_hold if b"EXEC\r\n" in chunk \
                        and self._containing in chunk else None
                    if hold is not None:
                        self._armed_hold = None
                        self._refuse_until = time.monotonic() + hold
                        self.cuts += 1
                        muted.set()
                server.sendall(chunk)
                if hold is not None:
                    # Redis has the EXEC; the client never sees its answer.
                    client.shutdown(socket.SHUT_RDWR)
                    break
        except OSError:
            pass
        finally:
            client.close()
            time.sleep(0.2)  # let Redis read what was passed on before hanging up
            server.close()

    @staticmethod
    def _pump_down(server: socket.socket, client: socket.socket, muted: threading.Event) -> None:
        try:
            while chunk := server.recv(65536):
                if not muted.is_set():
                    client.sendall(chunk)
        except OSError:
            pass
        finally:
            client.close()
