"""The worker publishes the ledger's signed checkpoints (ledger.digest_dir, every
ledger.digest_interval), and refuses to start with a signing key others can read."""

from __future__ import annotations

from pathlib import Path

from consent_store import digests
from consent_store.store import ConsentStore
from tests.ctl.test_jobs_status import N1, event, queue_texts
from tests.workers.test_absorb import ready


def test_a_worker_run_ends_with_a_checkpoint_of_what_it_applied(
        tmp_path: Path, redis_url: str) -> None:
    key, directory = tmp_path / "signing.key", tmp_path / "digests"
    digests.generate_key(key)
    p = ready(tmp_path, redis_url)
    p.env.update(SMSGW_LEDGER__DIGEST_DIR=str(directory), SMSGW_LEDGER__SIGNING_KEY=str(key))
    queue_texts(redis_url, [event(N1, "VIETA", 1), event(N1, "VIETA STOP", 2)], "b0")
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 0, p.logs()[-2000:]
    store = ConsentStore(p.database_url)
    report = store.verify_digests(directory, digests.public_keys([Path(f"{key}.pub")]))
    store.close()
    assert report.intact and report.covered == report.rows == 2, report.to_dict()
    assert "ledger.checkpoint" in p.logs()


def test_a_signing_key_others_can_read_stops_the_worker(tmp_path: Path, redis_url: str) -> None:
    key = tmp_path / "signing.key"
    digests.generate_key(key)
    key.chmod(0o644)
    p = ready(tmp_path, redis_url)
    p.env.update(SMSGW_LEDGER__DIGEST_DIR=str(tmp_path / "d"), SMSGW_LEDGER__SIGNING_KEY=str(key))
    worker = p.worker("--burst")
    assert worker.proc is not None and worker.proc.wait(60) == 2
    assert "readable by others" in p.logs() and "chmod 600" in p.logs()
