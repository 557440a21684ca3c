"""The Merkle tree hashing of RFC 9162 (Certificate Transparency 2.0, §2.1) over the ledger's
leaves, and its proofs: pure functions over bytes, no I/O.

A leaf is one ledger row's chain hash (32 bytes), in feed-position order
(consent_store/feed.py). ``leaf_hash(d) = SHA-256(0x00 ‖ d)``, ``node_hash(l, r) =
SHA-256(0x01 ‖ l ‖ r)``; the tree over n leaves splits at k, the largest power of two below
n (§2.1.1). docs/store.md, "Merkle log", states the same precisely enough to re-implement.

Three ways to hold a tree, for three jobs:

- ``Frontier``: the roots of the complete subtrees a prefix decomposes into (at most
  log₂ n hashes). Leaves stream through it; its root is the tree's root. ``verify``
  over a million rows holds nothing else.
- ``Levels``: every complete subtree's hash (32 bytes × ~2n): inclusion proofs for a whole
  export at once.
- ``Extension``: a checkpoint's frontier plus the leaves since: the next checkpoint's root
  and the consistency proof between the two, without reading the older leaves again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """A tree's prefix as the hashes of its maximal complete subtrees, left to right."""

    def __init__(self, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        # (size, hash) with sizes strictly decreasing powers of two.
        self.nodes: list[tuple[int, bytes]] = list(nodes)
        self.size = sum(s for s, _ in self.nodes)

    def add(self, leaf: bytes) -> None:
        """Append one leaf (its hash, ``leaf_hash(data)``)."""
        size, h = 1, leaf
        while self.nodes and self.nodes[-1][0] == size:
            left = self.nodes.pop()[1]
            size, h = size * 2, node_hash(left, h)
        self.nodes.append((size, h))
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        h = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            h = node_hash(left, h)
        return h

    def ranges(self) -> dict[tuple[int, int], bytes]:
        """{(start, size): hash} of the nodes."""
        out, start = {}, 0
        for size, h in self.nodes:
            out[(start, size)] = h
            start += size
        return out


def root_of(leaves: Iterable[bytes]) -> bytes:
    f = Frontier()
    for leaf in leaves:
        f.add(leaf)
    return f.root()


class Levels:
    """Every complete, aligned subtree of a tree: ``levels[j][i]`` is the hash of leaves
    ``[i·2ʲ, (i+1)·2ʲ)``, packed 32 bytes each."""

    def __init__(self, leaves: Iterable[bytes]) -> None:
        level = b"".join(leaves)
        self.levels = [level]
        while len(level) >= 2 * HASH_SIZE:
            level = b"".join(
                node_hash(level[i:i + HASH_SIZE], level[i + HASH_SIZE:i + 2 * HASH_SIZE])
                for i in range(0, len(level) - HASH_SIZE, 2 * HASH_SIZE))
            self.levels.append(level)
        self.size = len(self.levels[0]) // HASH_SIZE

    def leaf(self, i: int) -> bytes:
        return self.levels[0][i * HASH_SIZE:(i + 1) * HASH_SIZE]

    def subtree(self, start: int, size: int) -> bytes:
        """MTH of leaves ``[start, start + size)``, a subtree of the RFC's shape."""
        if size & (size - 1) == 0 and start % size == 0:
            j, i = size.bit_length() - 1, start // size
            return self.levels[j][i * HASH_SIZE:(i + 1) * HASH_SIZE]
        k = split(size)
        return node_hash(self.subtree(start, k), self.subtree(start + k, size - k))

    def root(self, size: int | None = None) -> bytes:
        n = self.size if size is None else size
        return EMPTY_ROOT if n == 0 else self.subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self.subtree, index, self.size if size is None else size)

    def consistency_proof(self, old: int, size: int | None = None) -> list[bytes]:
        return consistency_proof(self.subtree, old, self.size if size is None else size)


Subtree = Callable[[int, int], bytes]


def inclusion_proof(subtree: Subtree, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), the sibling hashes from the leaf up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, n, m = 0, size, index
    while n > 1:
        k = split(n)
        if m < k:
            path.append(subtree(start + k, n - k))
            n = k
        else:
            path.append(subtree(start, k))
            start, n, m = start + k, n - k, m - k
    return path[::-1]


def consistency_proof(subtree: Subtree, old: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old, D[0:size]): shows the tree of ``old`` leaves is a prefix."""
    if not 0 < old <= size:
        raise ValueError(f"no consistency proof from {old} to {size}")
    proof: list[bytes] = []

    def sub(m: int, start: int, n: int, whole: bool) -> None:
        if m == n:
            if not whole:
                proof.append(subtree(start, n))
            return
        k = split(n)
        if m <= k:
            sub(m, start, k, whole)
            proof.append(subtree(start + k, n - k))
        else:
            sub(m - k, start + k, n - k, False)
            proof.append(subtree(start, k))

    sub(old, 0, size, True)
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether ``leaf`` (a leaf hash) is leaf ``index`` of the tree of
    ``size`` leaves whose root is ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(old: int, size: int, old_root: bytes, root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of ``old`` leaves (``old_root``) is a prefix of
    the tree of ``size`` leaves (``root``)."""
    if old == size:
        return not proof and old_root == root
    if not 0 < old < size or not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == root and sn == 0


class Extension:
    """The tree of a checkpoint (known by its frontier) extended by newer leaves: enough for
    the new root, the new frontier and the consistency proof, never the older leaves."""

    def __init__(self, frontier: Frontier, leaves: Sequence[bytes]) -> None:
        self.old = frontier.size
        self.size = frontier.size + len(leaves)
        self._known = frontier.ranges()
        self._new = Levels(leaves)

    def subtree(self, start: int, size: int) -> bytes:
        found = self._known.get((start, size))
        if found is not None:
            return found
        if start >= self.old:
            return self._new.subtree(start - self.old, size)
        if size == 1:
            raise ValueError(f"leaf {start} is inside the checkpoint's frontier")
        k = split(size)
        return node_hash(self.subtree(start, k), self.subtree(start + k, size - k))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)

    def consistency_proof(self) -> list[bytes]:
        return consistency_proof(self.subtree, self.old, self.size) if self.old else []

    def frontier(self) -> Frontier:
        nodes, start = [], 0
        for bit in reversed(range(self.size.bit_length())):
            if self.size >> bit & 1:
                nodes.append((1 << bit, self.subtree(start, 1 << bit)))
                start += 1 << bit
        return Frontier(nodes)
