"""The API over real HTTP: ``consent-api run``, ``consent-worker run`` (and for ordering
tests ``sms-gateway run`` with the simulator), Redis and PostgreSQL or SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.support.api import Api, start_api
from tests.support.pipeline import Pipeline, Pipelines
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

LMT = "37129000001"
OTHER = "37129000002"
MINOR = "37129000003"


def import_directory(p: Pipeline, tmp_path: Path) -> None:
    csv = tmp_path / "dir.csv"
    csv.write_text(f"msisdn,client_group,independent\n{LMT},lmt,true\n{OTHER},other,true\n"
                   f"{MINOR},lmt,false\n")
    p.ctl("subscribers", "import", str(csv))


@pytest.fixture
def make_stack(tmp_path: Path, sim: SimulatorThread, redis_url: str):  # type: ignore[no-untyped-def]
    pipelines = Pipelines(tmp_path, sim.port)

    def make(database_url: str, worker: bool = True, **api: object) -> tuple[Pipeline, Api]:
        settings = {"host": "127.0.0.1", "port": free_port(), "change_wait": 5.0, **api}
        p = pipelines.make(redis_url, database_url, {"api": settings})
        import_directory(p, tmp_path)
        if worker:
            p.worker()
        return p, start_api(p)

    yield make
    pipelines.stop()


@pytest.fixture
def stack(postgres_url: str, make_stack):  # type: ignore[no-untyped-def]
    return make_stack(postgres_url)
