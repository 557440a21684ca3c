"""What a service process does, run under strace by test_units.py to list its system calls.

Until the console commands exist this stands in for them: it loads the same libraries
and uses them the way the daemons do (logging to stderr, notify datagrams, Redis and RQ
with a forking worker, SQLite in WAL mode, PostgreSQL through psycopg, a metrics HTTP
endpoint, threads, signal handlers). Usage: python -m tests.ops.syscall_workload
REDIS_URL POSTGRES_URL DIR
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import urllib.request
from pathlib import Path


def main(redis_url: str, postgres_url: str, workdir: Path) -> None:
    import prometheus_client
    import redis
    import rq
    import smpplib.client
    import sqlalchemy as sa
    import structlog

    from config.logs import configure_logging
    from config.notify import Notifier
    from config.settings import LogSettings

    configure_logging(LogSettings(format="json"), service="workload")
    log = structlog.get_logger()
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: None)

    notify_path = workdir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify_path))
        notifier = Notifier({"NOTIFY_SOCKET": str(notify_path)})
        notifier.ready("bound")
        notifier.watchdog()
        listener.recv(4096)

    conn = redis.Redis.from_url(redis_url, socket_timeout=2)
    conn.set("workload", "1")
    conn.blpop(["workload-empty"], timeout=1)
    queue = rq.Queue("workload", connection=conn)
    queue.enqueue("operator.add", 1, 2)
    # The default Worker forks a work horse per job, as consent-worker may.
    rq.Worker([queue], connection=conn).work(burst=True)

    engine = sa.create_engine(f"sqlite:///{workdir}/consents.db")
    with engine.begin() as db:
        db.exec_driver_sql("PRAGMA journal_mode=WAL")
        db.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        db.exec_driver_sql("INSERT INTO t VALUES (1)")
    pg = sa.create_engine(postgres_url)
    with pg.begin() as db:
        db.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        db.exec_driver_sql("INSERT INTO t VALUES (1)")
    pg.dispose()

    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1")
    port = server.server_address[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        resp.read()
    server.shutdown()
    thread.join(5)

    # An SMPP connection attempt to a port that answers and closes.
    with socket.socket() as smsc:
        smsc.bind(("127.0.0.1", 0))
        smsc.listen()
        client = smpplib.client.Client("127.0.0.1", smsc.getsockname()[1], timeout=1)
        client.connect()
        smsc.accept()[0].close()
        client.disconnect()

    worker = threading.Thread(target=lambda: log.info("from a thread", msisdn="37129123456"))
    worker.start()
    worker.join()
    log.info("workload done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
