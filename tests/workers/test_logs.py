"""The worker logs one info line per batch, naming every text's correlation id; the
per-text lines are debug (issue 15: a line per text was a large share of its CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ctl.test_jobs_status import N1, N2, directory, event, queue_texts
from tests.support import servers
from tests.support.pipeline import Pipeline


def test_a_batch_is_one_info_line_with_every_correlation_id_and_no_line_per_text(
        tmp_path: Path, redis_url: str) -> None:
    p = Pipeline(tmp_path, servers.free_port(), redis_url, f"sqlite:///{tmp_path}/c.db")
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    texts = [event(N1, "VIETA", 1), event(N2, "AUTO", 1), event(N1, "VIETA STOP", 2)]
    queue_texts(redis_url, texts, "b0")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]

    lines: list[dict[str, Any]] = [json.loads(x) for x in p.logs().splitlines()
                                   if x.startswith("{")]
    [batch] = [x for x in lines if x["event"] == "batch.applied"]
    assert batch["level"] == "info"
    assert batch["count"] == 3
    assert batch["correlation_ids"] == [t.request.correlation_id for t in texts]
    assert batch["outcomes"] == {"given": 2, "withdrawn": 1}
    assert not any(x["event"] == "event.applied" for x in lines)  # debug is off
    # RQ's own lines about the job (dequeued, "Job OK") are debug detail; its lifecycle
    # lines stay at info.
    rq_lines = [x for x in lines if x.get("logger") == "rq.worker"]
    assert not any("Job OK" in x["event"] or "apply 3 events" in x["event"] for x in rq_lines)
    assert any("started with PID" in x["event"] and x["level"] == "info" for x in rq_lines)


def test_at_debug_rq_s_lines_about_each_job_are_there_as_debug(
        tmp_path: Path, redis_url: str) -> None:
    p = Pipeline(tmp_path, servers.free_port(), redis_url, f"sqlite:///{tmp_path}/c.db",
                 {"log": {"level": "debug"}})
    p.ctl("db", "upgrade")
    directory(p, tmp_path)
    queue_texts(redis_url, [event(N1, "VIETA", 1)], "b0")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    lines = [json.loads(x) for x in p.logs().splitlines() if x.startswith("{")]
    ok = [x for x in lines if x.get("logger") == "rq.worker" and "Job OK" in x["event"]]
    assert [x["level"] for x in ok] == ["debug"]
