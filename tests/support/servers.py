"""Throwaway Redis and PostgreSQL servers on free loopback ports, for tests and the demo.

``TEST_REDIS_URL`` / ``TEST_DATABASE_URL`` point the tests at servers that already run;
without them, each test session starts its own servers in a temporary directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def redis_db_for_worker(url: str, worker: str) -> str:
    """``url`` with database ``n + 1`` for pytest-xdist worker ``gw<n>``; unchanged outside
    xdist. Database 0 stays the tester's own."""
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{int(worker[2:]) + 1}"))


def is_testers_redis(url: str) -> bool:
    """True when ``url`` names the server given by TEST_REDIS_URL (any database on it)."""
    given = os.environ.get("TEST_REDIS_URL")
    return bool(given) and urlsplit(given).netloc == urlsplit(url).netloc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise FileNotFoundError(
        f"{name} not found: install PostgreSQL (apt-get install -y postgresql) "
        "or set TEST_DATABASE_URL"
    )


@dataclass
class RedisServer:
    """A redis-server child process; ``stop``/``start`` keep its port and data."""

    dir: Path
    port: int = field(default_factory=free_port)
    appendonly: bool = True
    replica_of: int | None = None  # port of the primary this one replicates
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise FileNotFoundError(
                "redis-server not found: apt-get install -y redis-server (or set TEST_REDIS_URL)"
            )
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if self.appendonly:
            # The persistence the README recommends: AOF, fsync every second.
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            args += ["--appendonly", "no"]
        if self.replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def primary_and_replica(name: str) -> tuple[RedisServer, RedisServer]:
    """A started primary and a replica of it whose replication link is up."""
    import redis

    primary = RedisServer(dir=new_tempdir(f"smsgw-{name}-primary-"))
    primary.start()
    replica = RedisServer(dir=new_tempdir(f"smsgw-{name}-replica-"), replica_of=primary.port)
    replica.start()
    deadline = time.monotonic() + 20
    while redis.Redis(port=replica.port).info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise TimeoutError(f"replica on {replica.port} did not link to {primary.port}")
        time.sleep(0.05)
    return primary, replica


@dataclass
class Sentinel:
    """A redis-server in Sentinel mode watching the primary on ``primary_port`` as
    ``service``; quick to declare it down (1 s) so a failover takes a few seconds."""

    dir: Path
    primary_port: int
    service: str = "smsgw"
    quorum: int = 2
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise FileNotFoundError("redis-server not found: apt-get install -y redis-server")
        conf = self.dir / f"sentinel-{self.port}.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"logfile {self.dir / f'sentinel-{self.port}.log'}\n"
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} {self.quorum}\n"
            # 1 s was seen to fail over a second time on a loaded 2-core machine (the new
            # primary missed its pings while the old host resynced from it).
            f"sentinel down-after-milliseconds {self.service} 2500\n"
            f"sentinel failover-timeout {self.service} 5000\n"
            f"sentinel parallel-syncs {self.service} 1\n")
        self.proc = subprocess.Popen([binary, str(conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None



@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, run as a non-root user when we are root.

    ``durable=False`` (the tests) turns off what makes a commit survive a power cut
    (fsync, synchronous_commit, full_page_writes): a throwaway server needs none of it.
    ``durable=True`` (the benchmarks) runs PostgreSQL's stock settings, as operators do:
    every commit waits for its WAL flush."""

    dir: Path
    port: int = field(default_factory=free_port)
    durable: bool = False
    _user: str | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        if self._user:
            args = ["runuser", "-u", self._user, "--", *args]
        return subprocess.run(args, check=True, capture_output=True, **kw)  # type: ignore[call-overload,no-any-return]

    def init(self) -> None:
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; use its own account (or nobody).
            for user in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(user)
                except KeyError:
                    continue
                self._user = user
                break
            uid = pwd.getpwnam(self._user or "nobody").pw_uid
            os.chown(self.dir, uid, -1)
        self._run([_pg_bin("initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                   "-A", "trust", "--no-sync", "-E", "UTF8"])

    def init_standby(self, primary: PostgresServer) -> None:
        """Make this cluster a streaming standby of ``primary`` (pg_basebackup -R)."""
        self._user = primary._user
        if self._user:
            os.chown(self.dir, pwd.getpwnam(self._user).pw_uid, -1)
        self._run([_pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
                   "-U", "postgres", "-D", str(self.dir / "data"), "-R", "-X", "stream"])

    def promote(self) -> None:
        self._run([_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-w", "promote"])

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200")
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run([_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-w",
                   "-l", str(self.dir / "pg.log"), "start"])
        wait_port(self.port)

    def stop(self, mode: str = "fast") -> None:
        self._run([_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop"])


def new_tempdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url``; return its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    base = sa.engine.make_url(admin_url)
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
