"""``consentctl keygen``, ``digest``, ``verify --digests`` and ``verify-receipt`` as an
operator and a third party run them: real subprocesses on SQLite (the store tests cover
PostgreSQL and every kind of rewrite)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import sqlalchemy as sa

from consent_core.catalog import load_catalog
from consent_store.engine import upgrade
from consent_store.store import ConsentStore
from tests.ctl.test_cli import Ctl
from tests.store.conftest import LMT, OTHER, req


def test_an_operator_signs_checkpoints_and_a_third_party_checks_the_ledger_and_receipts(
        tmp_path: Path, sqlite_url: str) -> None:
    upgrade(sqlite_url)
    ctl = Ctl(tmp_path, sqlite_url)
    key, digest_dir = tmp_path / "signing.key", tmp_path / "digests"
    ctl.config.write_text(f'[database]\nurl = "{sqlite_url}"\n[ledger]\n'
                          f'digest_dir = "{digest_dir}"\nsigning_key = "{key}"\n')
    made = ctl("keygen", str(key))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and Path(f"{key}.pub").exists()
    assert ctl("keygen", str(key)).returncode == 2  # never overwritten
    store = ConsentStore(sqlite_url)
    store.import_subscribers([(LMT, "lmt", True)])
    catalog = load_catalog()
    for r in (req("give", "VIETA"), req("give", "JAUNUMI", msisdn=OTHER),
              req("withdraw", "VIETA")):
        store.apply(r, catalog=catalog)
    first = ctl("digest")
    assert first.returncode == 0 and "checkpoint 3 written" in first.stdout, first.stderr
    verify = ["verify", "--digests", str(digest_dir), "--public-key", f"{key}.pub"]
    assert ctl("verify", "--digests", str(tmp_path / "typo"), "--public-key",
               f"{key}.pub").returncode == 2
    ok = ctl(*verify)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "checkpoints: intact" in ok.stdout and "not yet covered: 0 rows" in ok.stdout

    export = tmp_path / "export.json"
    out = ctl("export", LMT)
    assert out.returncode == 0, out.stderr
    export.write_text(out.stdout)
    checked = ctl("verify-receipt", str(export), "--public-key", f"{key}.pub", config=False)
    assert checked.returncode == 0 and "2 of 2 receipts verified" in checked.stdout, checked.stdout
    data = json.loads(out.stdout)
    data["history"][1]["outcome"] = "already_withdrawn"
    export.write_text(json.dumps(data))
    failed = ctl("verify-receipt", str(export), "--public-key", f"{key}.pub", config=False)
    assert failed.returncode == 8 and "FAILED" in failed.stdout

    # The insider removes the other number altogether: the chains cannot see it.
    with store.engine.begin() as conn:
        for table in ("consent_events", "ledger_heads", "consent_state"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE msisdn = :m"),  # noqa: S608
                         {"m": OTHER})
    store.close()
    broken = ctl(*verify)
    assert broken.returncode == 8, broken.stdout + broken.stderr
    assert "ledger: intact" in broken.stdout
    assert "checkpoints: BROKEN: leaf 1 " in broken.stdout and "checkpoint 3" in broken.stdout
