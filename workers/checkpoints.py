"""The worker's checkpoint thread: every ``ledger.digest_interval`` seconds it signs a
checkpoint of the ledger's Merkle log into ``ledger.digest_dir`` (docs/store.md, "Merkle
log and checkpoints"). Only the worker serving shard 0 runs it: one publisher, and the
files are created once, so a second one would only lose the race."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from config.settings import Settings
from consent_store.digests import DigestError, load_private_key
from consent_store.errors import StoreError
from consent_store.store import ConsentStore

log = structlog.get_logger("worker")

CHECKPOINTS = Counter("smsgw_worker_checkpoints_total",
                      "ledger checkpoint runs, by result: published, unchanged, failed",
                      ["result"])
CHECKPOINT_SIZE = Gauge("smsgw_worker_checkpoint_tree_size",
                        "ledger rows the latest published checkpoint covers")


class CheckpointPublisher:
    """Publishes until ``stop()``; a failed run is logged and counted, the next one retries."""

    def __init__(self, store: ConsentStore, directory: Path, key: Any, interval: float) -> None:
        self.store, self.directory, self.key, self.interval = store, directory, key, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)

    @classmethod
    def from_settings(cls, settings: Settings, store: ConsentStore) -> CheckpointPublisher | None:
        """None when ``ledger.digest_dir`` is not set; raises ``DigestError`` for a
        signing key that cannot be used (a configuration error: the worker does not start)."""
        ledger = settings.ledger
        if not ledger.digest_dir:
            return None
        if not ledger.signing_key:
            raise DigestError("ledger.digest_dir is set but ledger.signing_key is not "
                              "(make one with `consentctl keygen PATH`)")
        return cls(store, Path(ledger.digest_dir), load_private_key(Path(ledger.signing_key)),
                   ledger.digest_interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and publish once more: what this worker applied last is covered
        (a ``--burst`` run ends with a checkpoint of its work)."""
        self._stop.set()
        self._thread.join(10)
        self.publish_once()

    def publish_once(self) -> None:
        try:
            done = self.store.publish_checkpoint(self.directory, self.key)
        except (StoreError, OSError) as exc:
            CHECKPOINTS.labels(result="failed").inc()
            log.error("ledger.checkpoint_failed", error=str(exc), directory=str(self.directory),
                      action=f"retrying in {self.interval:g}s")
            return
        CHECKPOINT_SIZE.set(done.checkpoint.tree_size)
        CHECKPOINTS.labels(result="published" if done.new else "unchanged").inc()
        if done.new:
            log.info("ledger.checkpoint", tree_size=done.checkpoint.tree_size,
                     root=done.checkpoint.root_hash.hex(), key_id=done.checkpoint.key_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.publish_once()
            self._stop.wait(self.interval)
