"""RFC 9162 hashing and proofs (consent_store/merkle.py) against the RFC's recursive
definitions written out naively here, as tables and hypothesis properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_store import merkle


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(n)]


def _mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, literally (``d`` already leaf hashes)."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = merkle.split(len(d))
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH, literally."""
    if len(d) == 1:
        return []
    k = merkle.split(len(d))
    return [*_path(m, d[:k]), _mth(d[k:])] if m < k else [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF, literally."""
    if m == len(d):
        return [] if b else [_mth(d)]
    k = merkle.split(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


@pytest.mark.parametrize("n, k", [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)])
def test_split_is_the_largest_power_of_two_below_n(n: int, k: int) -> None:
    assert merkle.split(n) == k


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=70))
def test_every_representation_has_the_rfc_root(n: int) -> None:
    d = _leaves(n)
    assert merkle.root_of(d) == merkle.Levels(d).root() == _mth(d)
    for m in range(n + 1):
        assert merkle.Levels(d).root(m) == _mth(d[:m])


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_inclusion_proofs_are_the_rfc_paths_and_verify(n: int, data: st.DataObject) -> None:
    d = _leaves(n)
    tree = merkle.Levels(d)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    proof = tree.inclusion_proof(i)
    assert proof == _path(i, d)
    root = _mth(d)
    assert merkle.verify_inclusion(d[i], i, n, proof, root)
    assert not merkle.verify_inclusion(d[i], (i + 1) % n, n, proof, root) or n == 1
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), i, n, proof, root)
    if proof:
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not merkle.verify_inclusion(d[i], i, n, bad, root)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs_are_the_rfc_proofs_and_verify(n: int, data: st.DataObject) -> None:
    d = _leaves(n)
    m = data.draw(st.integers(min_value=1, max_value=n))
    proof = merkle.Levels(d).consistency_proof(m)
    assert proof == _subproof(m, d, True)
    assert merkle.verify_consistency(m, n, _mth(d[:m]), _mth(d), proof)
    # Another old tree (one leaf changed) is not a prefix.
    changed = [merkle.leaf_hash(b"changed"), *d[1:m]]
    assert not merkle.verify_consistency(m, n, _mth(changed), _mth(d), proof)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=40))
def test_an_extension_from_a_frontier_matches_the_whole_tree(old: int, more: int) -> None:
    d = _leaves(old + more)
    front = merkle.Frontier()
    for leaf in d[:old]:
        front.add(leaf)
    ext = merkle.Extension(front, d[old:])
    assert ext.root() == _mth(d)
    assert ext.frontier().root() == _mth(d) and ext.frontier().size == old + more
    if old:
        assert ext.consistency_proof() == _subproof(old, d, True)
