"""Signed checkpoints of the ledger's Merkle log (consent_store/digests.py) against an
insider with write access to the database: each rewrite is found and the right leaf named,
on SQLite and PostgreSQL; an untouched ledger, an erased number and a rotated key verify;
receipts check offline."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from consent_core.catalog import Catalog
from consent_store import chain, digests, receipts
from consent_store.schema import consent_events
from consent_store.store import ConsentStore
from tests.store.conftest import LMT, OTHER, req


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("a", "b"):
        digests.generate_key(tmp_path / f"{name}.key")
        out[name] = tmp_path / f"{name}.key"
    return out


def _ledger(store: ConsentStore, catalog: Catalog) -> dict[str, str]:
    """Two numbers' histories, interleaved; the event ids by role."""
    give, other, withdraw, jaunumi, other2 = (
        req("give", "VIETA"), req("give", "JAUNUMI", msisdn=OTHER),
        req("withdraw", "VIETA"), req("give", "JAUNUMI"), req("withdraw", "JAUNUMI", msisdn=OTHER))
    for r in (give, other, withdraw, jaunumi, other2):
        store.apply(r, catalog=catalog)
    return {"give": give.event_id, "other": other.event_id, "withdraw": withdraw.event_id,
            "jaunumi": jaunumi.event_id, "other2": other2.event_id}


def _publish(store: ConsentStore, directory: Path, key: Path) -> digests.Checkpoint:
    done = store.publish_checkpoint(directory, digests.load_private_key(key))
    cp: digests.Checkpoint = done.checkpoint
    return cp


def _verify(store: ConsentStore, directory: Path, *keys: Path) -> digests.DigestReport:
    """Verify with the public halves of the private ``keys``."""
    public = digests.public_keys([Path(f"{k}.pub") for k in keys])
    report: digests.DigestReport = store.verify_digests(directory, public)
    return report


def _leaf(store: ConsentStore, event_id: str) -> int:
    with store.engine.connect() as conn:
        p = conn.execute(sa.select(consent_events.c.position)
                         .where(consent_events.c.event_id == event_id)).scalar_one()
        return int(conn.execute(sa.select(sa.func.count()).select_from(consent_events)
                                .where(consent_events.c.position < p)).scalar_one())


def _cli_says(capsys: pytest.CaptureFixture[str], store: ConsentStore, directory: Path,
              key: Path, *expected: str) -> None:
    """``consentctl verify --digests`` (in this process) exits 8 and prints ``expected``."""
    from consentctl.cli import main

    config = directory.parent / "gateway.toml"
    url = store.engine.url.render_as_string(hide_password=False)
    config.write_text(f'[database]\nurl = "{url}"\n')
    capsys.readouterr()
    code = main(["--config", str(config), "verify", "--digests", str(directory),
                 "--public-key", f"{key}.pub"])
    out = capsys.readouterr().out
    assert code == 8, out
    for text in expected:
        assert text in out, out


def _sql(store: ConsentStore, text: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(text), params)


@pytest.fixture
def sealed(store: ConsentStore, catalog: Catalog, keys: dict[str, Path],
           tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A ledger with two checkpoints (5 rows, then 6) in ``tmp_path/digests``."""
    directory = tmp_path / "digests"
    ids = _ledger(store, catalog)
    assert _publish(store, directory, keys["a"]).tree_size == 5
    store.apply(req("give", "AUTO"), catalog=catalog)
    assert _publish(store, directory, keys["a"]).tree_size == 6
    return directory, ids


def test_an_untouched_ledger_verifies_and_later_rows_are_not_yet_covered(
        store: ConsentStore, catalog: Catalog, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, _ = sealed
    assert sorted(p.name for p in directory.iterdir()) == [
        ".latest", ".lock",  # the publishers' hint and lock, not part of the proof
        "000000000005.json", "000000000005.leaves", "000000000006.json", "000000000006.leaves"]
    assert (directory / ".latest").read_text() == "000000000006\n"
    assert not os.access(directory / "000000000006.json", os.W_OK) or os.geteuid() == 0
    # Nothing new: nothing written.
    again = store.publish_checkpoint(directory, digests.load_private_key(keys["a"]))
    assert not again.new and again.checkpoint.tree_size == 6
    store.apply(req("give", "METADATI"), catalog=catalog)
    report = _verify(store, directory, keys["a"])
    assert report.intact, report.first_problem
    assert (report.checkpoints, report.covered, report.rows, report.not_yet_covered) == (
        2, 6, 7, 1)


def test_a_rewrite_resealed_with_the_projects_own_rules_is_found_at_its_leaf(
        capsys: pytest.CaptureFixture[str], store: ConsentStore, catalog: Catalog, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    """The insider of the issue: delete a withdrawal, re-seal the rest of the number's chain
    with consent_store.chain, move its head, make the state match."""
    directory, ids = sealed
    leaf = _leaf(store, ids["withdraw"])
    with store.engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(consent_events).where(consent_events.c.msisdn == LMT)
            .order_by(consent_events.c.chain_seq)).mappings()]
        gone = next(i for i, r in enumerate(rows) if r["event_id"] == ids["withdraw"])
        conn.execute(sa.delete(consent_events).where(consent_events.c.id == rows[gone]["id"]))
        before = rows[gone - 1]
        head = chain.Head(LMT, before["chain_id"], before["chain_seq"], before["chain_hash"])
        for r in rows[gone + 1:]:
            chain.seal(r, head)
            conn.execute(sa.update(consent_events).where(consent_events.c.id == r["id"])
                         .values({k: r[k] for k in chain.CHAIN_COLUMNS}))
        conn.execute(sa.text("UPDATE ledger_heads SET seq = :s, hash = :h WHERE msisdn = :m"),
                     {"s": head.seq, "h": head.hash, "m": LMT})
        conn.execute(sa.text("UPDATE consent_state SET status = 'given' "
                             "WHERE msisdn = :m AND consent = 'VIETA'"), {"m": LMT})
    assert store.verify().intact and store.verify(LMT).intact  # the chains cannot see it
    assert store.state(LMT).consents["VIETA"].status == "given"
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.leaf == leaf and problem.checkpoint == 5, problem
    assert f"leaf {leaf}" in problem.problem and "checkpoint 5" in problem.problem
    _cli_says(capsys, store, directory, keys["a"], f"leaf {leaf} ", "checkpoint 5")


def test_a_number_deleted_altogether_is_found_at_its_first_leaf(
        capsys: pytest.CaptureFixture[str], store: ConsentStore, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, ids = sealed
    leaf = _leaf(store, ids["other"])
    for table in ("consent_events", "ledger_heads", "consent_state"):
        _sql(store, f"DELETE FROM {table} WHERE msisdn = :m", m=OTHER)  # noqa: S608
    assert store.verify().intact
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.leaf == leaf == 1 and problem.checkpoint == 5
    _cli_says(capsys, store, directory, keys["a"], "leaf 1 ", "checkpoint 5")


def test_reordered_rows_are_found_at_the_first_moved_leaf(
        capsys: pytest.CaptureFixture[str], store: ConsentStore, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, ids = sealed
    a, b = _leaf(store, ids["other"]), _leaf(store, ids["jaunumi"])
    # Swap the two rows' places in the log (via a free position: the index is unique).
    _sql(store, "UPDATE consent_events SET position = -1 WHERE event_id = :e", e=ids["other"])
    _sql(store, "UPDATE consent_events SET position = :p WHERE event_id = :e", p=a + 1,
         e=ids["jaunumi"])
    _sql(store, "UPDATE consent_events SET position = :p WHERE event_id = :e", p=b + 1,
         e=ids["other"])
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.leaf == a == 1 and problem.event_id == ids["jaunumi"]
    _cli_says(capsys, store, directory, keys["a"], "leaf 1 ", ids["jaunumi"])


def test_an_inserted_row_sealed_into_its_chain_is_found_at_its_leaf(
        capsys: pytest.CaptureFixture[str], store: ConsentStore, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, _ = sealed
    with store.engine.begin() as conn:
        first = dict(conn.execute(sa.select(consent_events)
                                  .order_by(consent_events.c.position)).mappings().first() or {})
        forged = {**first, "event_id": "forged", "position": 0}
        del forged["id"]
        chain.seal(forged, chain.Head(LMT, "f" * 32, 0, chain.GENESIS))
        conn.execute(sa.insert(consent_events).values(forged))
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.leaf == 0 and problem.event_id == "forged"
    _cli_says(capsys, store, directory, keys["a"], "leaf 0 ", "forged")


def test_a_changed_checkpoint_or_leaves_file_is_named(
        capsys: pytest.CaptureFixture[str], store: ConsentStore, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, _ = sealed
    path = directory / "000000000005.json"
    original = path.read_bytes()
    data = json.loads(original)
    data["root_hash"] = _flip(data["root_hash"])
    path.chmod(0o644)
    path.write_text(json.dumps(data))
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.checkpoint == 5 and problem.leaf is None
    assert "signature does not verify" in problem.problem
    _cli_says(capsys, store, directory, keys["a"], "checkpoint 5: the signature does not verify")
    path.write_bytes(original)
    leaves = directory / "000000000006.leaves"
    leaves.chmod(0o644)
    raw = bytearray(leaves.read_bytes())
    raw[0] ^= 1
    leaves.write_bytes(bytes(raw))
    problem = _verify(store, directory, keys["a"]).first_problem
    assert problem is not None and problem.checkpoint == 6
    assert "leaves file does not give its root" in problem.problem


def test_an_erased_numbers_leaves_still_verify(
        store: ConsentStore, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, _ = sealed
    store.erase(OTHER, "Art. 17 request")
    report = _verify(store, directory, keys["a"])
    assert report.intact and report.not_yet_covered == 1  # the erase row
    assert _publish(store, directory, keys["a"]).tree_size == 7
    assert _verify(store, directory, keys["a"]).intact


def test_after_a_key_rotation_old_checkpoints_verify_with_their_key(
        store: ConsentStore, catalog: Catalog, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, _ = sealed
    store.apply(req("give", "METADATI"), catalog=catalog)
    cp = _publish(store, directory, keys["b"])  # the new key signs from here on
    assert cp.key_id != digests.Checkpoint.from_dict(
        json.loads((directory / "000000000006.json").read_text())).key_id
    assert _verify(store, directory, keys["a"], keys["b"]).intact
    problem = _verify(store, directory, keys["b"]).first_problem
    assert problem is not None and problem.checkpoint == 5 and "not among" in problem.problem


def test_receipts_verify_offline_and_fail_after_any_changed_byte(
        store: ConsentStore, catalog: Catalog, keys: dict[str, Path],
        sealed: tuple[Path, dict[str, str]]) -> None:
    directory, ids = sealed
    store.apply(req("give", "METADATI"), catalog=catalog)  # after the latest checkpoint
    export = json.loads(json.dumps(store.export(LMT, digest_dir=directory)))
    pub = digests.public_keys([Path(f"{keys['a']}.pub")])
    results = dict(receipts.check(export, pub))
    assert [e["event_id"] for e in export["history"] if results[e["event_id"]] is None] == [
        ids["give"], ids["withdraw"], ids["jaunumi"], export["history"][3]["event_id"]]
    assert "not yet covered" in str(results[export["history"][-1]["event_id"]])
    assert export["ledger"]["not_yet_covered"] == 1
    one = export["history"][1]
    assert receipts.check(one, pub) == [(ids["withdraw"], None)]
    for change in (lambda e: e.update(outcome="given"),
                   lambda e: e.update(text=e["text"] + " "),
                   lambda e: e["chain"].update(salt="0" * 32),
                   lambda e: e["proof"].update(leaf_index=e["proof"]["leaf_index"] + 1),
                   lambda e: e["proof"]["inclusion"].__setitem__(0, _flip(
                       e["proof"]["inclusion"][0])),
                   lambda e: e["proof"]["checkpoint"].update(time="2030-01-01T00:00:00Z"),
                   lambda e: e["proof"]["checkpoint"].update(tree_size=7)):
        bad = copy.deepcopy(one)
        change(bad)
        assert receipts.check(bad, pub)[0][1] is not None


def _flip(hex_text: str) -> str:
    """``hex_text`` with its first digit changed (whatever it was)."""
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]
