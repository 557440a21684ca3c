"""SIGHUP makes a running worker read the consent catalog again; a broken file is refused."""

from __future__ import annotations

import json
import signal
from importlib import resources
from pathlib import Path

from tests.ctl.test_jobs_status import N1, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline, wait_until


def test_sighup_reloads_the_catalog_and_keeps_the_old_one_if_broken(
        tmp_path: Path, redis_url: str) -> None:
    catalog = tmp_path / "commands.toml"
    shipped = resources.files("config").joinpath("commands.toml").read_text(encoding="utf-8")
    catalog.write_text(shipped, encoding="utf-8")
    p = Pipeline(tmp_path, servers.free_port(), redis_url, f"sqlite:///{tmp_path}/c.db",
                 {"consent": {"catalog": str(catalog)}})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    worker = p.worker()
    assert wait_until(lambda: "worker.started" in worker.log(), 30)

    edited = shipped.replace("Piekrišana {consent} saņemta.", "Paldies, {consent} saņemta.")
    assert edited != shipped
    catalog.write_text(edited.replace('version = "', 'version = "x'), encoding="utf-8")
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "worker.catalog_reloaded" in worker.log(), 10)
    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b1")

    def replied() -> list[dict]:  # type: ignore[type-arg]
        data = json.loads(p.ctl("history", N1, "--json").stdout)
        return data if isinstance(data, list) else data["events"]

    assert wait_until(lambda: len(replied()) == 1, 30)
    assert replied()[0]["reply_text"].startswith("Paldies, VIETA saņemta.")

    catalog.write_text("this is [not toml", encoding="utf-8")
    worker.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "worker.catalog_reload_failed" in worker.log(), 10)
    assert worker.alive
    worker.terminate()
