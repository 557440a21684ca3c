"""PostgreSQL primary and standby behind one libpq multi-host URL: when the primary dies and
the standby is promoted, a running worker reconnects to it and applies what was queued,
each text once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.ctl.test_jobs_status import N1, N2, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until

pytestmark = pytest.mark.faults


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[servers.PostgresServer, servers.PostgresServer]]:
    primary = servers.PostgresServer(dir=servers.new_tempdir("smsgw-pg-primary-"))
    primary.init()
    primary.start()
    standby = servers.PostgresServer(dir=servers.new_tempdir("smsgw-pg-standby-"))
    standby.init_standby(primary)
    standby.start()
    yield primary, standby
    for srv in (standby, primary):
        try:
            srv.stop("immediate")
        except Exception:  # noqa: S110 (already stopped by the test)
            pass


def test_worker_follows_a_promoted_standby_through_a_multi_host_url(
        tmp_path: Path, redis_url: str,
        primary_and_standby: tuple[servers.PostgresServer, servers.PostgresServer]) -> None:
    primary, standby = primary_and_standby
    name = "consents"
    servers.create_database(primary.admin_url, name)
    # libpq tries the hosts in order and keeps the one that accepts writes.
    url = (f"postgresql+psycopg://postgres@/{name}?host=127.0.0.1:{primary.port}"
           f"&host=127.0.0.1:{standby.port}&target_session_attrs=read-write")
    p = Pipeline(tmp_path, servers.free_port(), redis_url, url)
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    worker = p.worker()

    def status(msisdn: str, consent: str) -> str:
        shown = p.ctl("show", msisdn, "--json", check=False)
        if shown.returncode != 0:  # no writable server between the crash and the promotion
            return f"exit {shown.returncode}"
        return str(json.loads(shown.stdout)["consents"][consent]["status"])

    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b1")
    assert wait_until(lambda: status(N1, "VIETA") == "given", 30), p.logs()[-3000:]
    standby_engine = sa.create_engine(standby.admin_url.rsplit("/", 1)[0] + f"/{name}")
    with standby_engine.connect() as conn:  # the standby has replayed the first change
        assert wait_until(lambda: conn.execute(sa.text(
            "SELECT count(*) FROM consent_events")).scalar_one() == 1, 20)

    primary.stop("immediate")
    queue_texts(redis_url, [event(N1, "VIETA STOP", 2), event(N2, "AUTO", 1)], "b2")
    standby.promote()
    assert wait_until(lambda: status(N1, "VIETA") == "withdrawn", 90), p.logs()[-3000:]
    assert status(N2, "AUTO") == "given"
    assert worker.alive
    texts = [e["text"] for e in json.loads(p.ctl("history", N1, "--json").stdout)]
    assert texts == ["VIETA", "VIETA STOP"]
    standby_engine.dispose()
    p.stop()
