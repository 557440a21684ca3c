"""Fixtures for end-to-end tests: simulator in-process, gateway and worker as processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from smsc_sim.threaded import SimulatorThread
from tests.support.pipeline import Pipeline, Pipelines

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_pipeline(tmp_path: Path, sim: SimulatorThread, redis_url: str):  # type: ignore[no-untyped-def]
    pipelines = Pipelines(tmp_path, sim.port)

    def make(database_url: str, **overrides: dict) -> Pipeline:  # type: ignore[type-arg]
        return pipelines.make(redis_url, database_url, overrides)

    yield make
    pipelines.stop()
