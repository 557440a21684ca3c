"""Signed checkpoints of the ledger's Merkle log, kept in a directory outside the database
(``ledger.digest_dir``), and the check of today's ledger against them (docs/store.md,
"Merkle log and checkpoints").

A checkpoint says "the first ``tree_size`` ledger rows in feed order have this Merkle
root", signed with Ed25519 by a key the database never sees (``ledger.signing_key``). Each
is written as two files named by its tree size: ``<size>.json`` (the signed note, the
consistency proof from the previous checkpoint, and the frontier the next publication
extends) and ``<size>.leaves`` (the leaves since the previous checkpoint: the rows' chain
hashes, 32 bytes each), so that a later check can name the exact row that changed.
Files are created once and never rewritten (a second publisher of the same size loses
the race and keeps the first).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select

from consent_store import merkle
from consent_store.errors import StoreError
from consent_store.schema import consent_events
from consent_store.timeutil import iso, parse_instant

ORIGIN = "lmt-consent-ledger/v1"
FORMAT = 1
_NAME_DIGITS = 12
# Names the latest checkpoint for the next publication; not part of what is verified.
LATEST = ".latest"


class DigestError(StoreError):
    """A key or a digest directory that cannot be used (missing, unreadable, malformed)."""


# --- keys ------------------------------------------------------------------------------

def key_id(public: Ed25519PublicKey) -> str:
    """The first 8 bytes of SHA-256 over the raw 32-byte public key, in hex."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(path: Path) -> str:
    """Write a new Ed25519 key pair: ``path`` (PKCS#8 PEM, mode 0600) and ``path``.pub
    (SubjectPublicKeyInfo PEM). Refuses to overwrite. Returns the key id."""
    key = Ed25519PrivateKey.generate()
    pub = Path(f"{path}.pub")
    for p in (path, pub):
        if p.exists():
            raise DigestError(f"{p} exists; a signing key is never overwritten")
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise DigestError(f"ledger.signing_key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DigestError(f"ledger.signing_key {path}: readable by others "
                          f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise DigestError(f"ledger.signing_key {path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DigestError(f"ledger.signing_key {path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise DigestError(f"public key {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise DigestError(f"public key {path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise DigestError(f"public key {path}: not an Ed25519 key")
    return key


# --- checkpoints -----------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """A signed statement about the first ``tree_size`` leaves."""

    tree_size: int
    root_hash: bytes
    last_position: int  # the feed position of leaf tree_size - 1 (0 for an empty tree)
    time: datetime
    key_id: str
    signature: bytes = b""
    previous_size: int = 0
    consistency: tuple[bytes, ...] = ()  # RFC 9162 proof from the previous checkpoint
    frontier: tuple[tuple[int, bytes], ...] = field(default=(), repr=False)

    def note(self) -> bytes:
        """The signed text: one field a line, every line ending in a newline."""
        return (f"{ORIGIN}\ntree_size {self.tree_size}\nroot {self.root_hash.hex()}\n"
                f"last_position {self.last_position}\ntime {iso(self.time)}\n"
                f"key {self.key_id}\n").encode()

    def summary(self) -> dict[str, Any]:
        """What a receipt carries: the signed fields and the signature."""
        return {"origin": ORIGIN, "tree_size": self.tree_size,
                "root_hash": self.root_hash.hex(), "last_position": self.last_position,
                "time": iso(self.time), "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode()}

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.summary(),
                "previous": {"tree_size": self.previous_size,
                             "consistency": [h.hex() for h in self.consistency]},
                "frontier": [[size, h.hex()] for size, h in self.frontier]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        """Raises ``DigestError`` naming what is wrong with ``d``."""
        try:
            if d.get("origin") != ORIGIN:
                raise ValueError(f"origin {d.get('origin')!r} is not {ORIGIN!r}")
            prev = d.get("previous") or {}
            return cls(int(d["tree_size"]), bytes.fromhex(d["root_hash"]),
                       int(d["last_position"]), parse_instant(d["time"]), str(d["key_id"]),
                       base64.b64decode(d["signature"], validate=True),
                       int(prev.get("tree_size", 0)),
                       tuple(bytes.fromhex(h) for h in prev.get("consistency", ())),
                       tuple((int(s), bytes.fromhex(h)) for s, h in d.get("frontier", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise DigestError(f"malformed checkpoint: {exc}") from None

    def verify_signature(self, keys: dict[str, Ed25519PublicKey]) -> str | None:
        """None when a key of ``keys`` (by key id) signed exactly this note; else why not."""
        key = keys.get(self.key_id)
        if key is None:
            return f"signed by key {self.key_id}, which is not among the public keys given"
        try:
            key.verify(self.signature, self.note())
        except InvalidSignature:
            return "the signature does not verify: the checkpoint was changed"
        return None


def sign(key: Ed25519PrivateKey, cp: Checkpoint) -> Checkpoint:
    unsigned = Checkpoint(cp.tree_size, cp.root_hash, cp.last_position, cp.time,
                          key_id(key.public_key()), b"", cp.previous_size, cp.consistency,
                          cp.frontier)
    return Checkpoint(unsigned.tree_size, unsigned.root_hash, unsigned.last_position,
                      unsigned.time, unsigned.key_id, key.sign(unsigned.note()),
                      unsigned.previous_size, unsigned.consistency, unsigned.frontier)


def _name(size: int) -> str:
    return f"{size:0{_NAME_DIGITS}d}"


def checkpoints(directory: Path) -> list[Checkpoint]:
    """Every checkpoint in ``directory``, smallest tree first."""
    try:
        names = sorted(p for p in directory.glob("*.json") if p.stem.isdigit())
    except OSError as exc:
        raise DigestError(f"ledger.digest_dir {directory}: {exc.strerror}") from None
    out = []
    for p in names:
        try:
            cp = Checkpoint.from_dict(json.loads(p.read_text()))
        except (OSError, ValueError) as exc:
            raise DigestError(f"{p}: {exc}") from None
        if int(p.stem) != cp.tree_size:
            raise DigestError(f"{p}: holds tree size {cp.tree_size}, not {int(p.stem)}")
        out.append(cp)
    return out


def leaves_file(directory: Path, size: int) -> Path:
    return directory / f"{_name(size)}.leaves"


def _write_once(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` (read-only) unless it exists; whether we made it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o444)
    try:
        os.link(tmp, path)  # atomic, and refuses to replace an existing file
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


# --- publishing ------------------------------------------------------------------------

@dataclass(frozen=True)
class Published:
    checkpoint: Checkpoint
    new: bool  # False: the ledger had not grown since the latest checkpoint


def publish(conn: Connection, directory: Path, key: Ed25519PrivateKey, now: datetime
            ) -> Published:
    """Sign and write a checkpoint over every committed ledger row, extending the latest
    one in ``directory`` (reads only the rows since). Nothing is written when the ledger
    has not grown. Publishers (the worker, ``consentctl digest``) take turns on a lock
    file, so each checkpoint names the one just before it."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _publish(conn, directory, key, now)


def _publish(conn: Connection, directory: Path, key: Ed25519PrivateKey, now: datetime
             ) -> Published:
    latest = _latest(directory)
    front = merkle.Frontier(latest.frontier if latest else ())
    if latest is not None and (front.size != latest.tree_size
                               or front.root() != latest.root_hash):
        raise DigestError(f"checkpoint {latest.tree_size}: its frontier does not give its "
                          "root; the directory was changed")
    after = last = latest.last_position if latest else 0
    data: list[bytes] = []  # 32 bytes a row, not a Row object: the first publication
    for position, chain_hash in conn.execution_options(  # over a big ledger reads it all
            stream_results=True, yield_per=10_000).execute(
            select(consent_events.c.position, consent_events.c.chain_hash)
            .where(consent_events.c.position > after).order_by(consent_events.c.position)):
        data.append(_leaf_data(chain_hash))
        last = int(position)
    if latest is not None and not data:
        return Published(latest, new=False)
    ext = merkle.Extension(front, [merkle.leaf_hash(d) for d in data])
    cp = sign(key, Checkpoint(
        ext.size, ext.root(), last, now, "",
        previous_size=front.size, consistency=tuple(ext.consistency_proof()),
        frontier=tuple(ext.frontier().nodes)))
    _write_once(leaves_file(directory, cp.tree_size), b"".join(data))
    made = _write_once(directory / f"{_name(cp.tree_size)}.json",
                       (json.dumps(cp.to_dict(), indent=1) + "\n").encode())
    if made:
        pointer = directory / f".latest.{os.getpid()}.tmp"
        pointer.write_text(_name(cp.tree_size) + "\n")
        pointer.replace(directory / LATEST)
    return Published(cp if made else checkpoints(directory)[-1], new=made)


def _latest(directory: Path) -> Checkpoint | None:
    """The latest checkpoint: the one ``.latest`` names (a publisher's hint, so that a
    publication reads one file, not a year of them), else the largest found."""
    try:
        name = (directory / LATEST).read_text().strip()
    except OSError:
        name = ""
    if name.isdigit() and (directory / f"{name}.json").exists():
        try:
            return Checkpoint.from_dict(json.loads((directory / f"{name}.json").read_text()))
        except (OSError, ValueError):
            pass
    found = checkpoints(directory)
    return found[-1] if found else None


def _leaf_data(chain_hash: str | None) -> bytes:
    # A row without a chain hash (written around the store) is still a leaf: all zeros,
    # which no sealed row has; the chain check names it.
    return bytes.fromhex(chain_hash) if chain_hash else bytes(merkle.HASH_SIZE)


# --- checking the ledger against them ---------------------------------------------------

@dataclass(frozen=True)
class DigestProblem:
    """The first thing that does not verify: a checkpoint, or a leaf against one."""

    checkpoint: int | None  # its tree size
    leaf: int | None  # leaf index (0-based; the row at this place in feed order)
    event_id: str | None
    position: int | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "leaf": self.leaf, "event_id": self.event_id,
                "position": self.position, "problem": self.problem}


@dataclass(frozen=True)
class DigestReport:
    checkpoints: int
    covered: int  # leaves the latest checkpoint covers
    rows: int  # ledger rows today
    latest: Checkpoint | None
    first_problem: DigestProblem | None

    @property
    def intact(self) -> bool:
        return self.first_problem is None

    def summary_time(self) -> str | None:
        return None if self.latest is None else iso(self.latest.time)

    @property
    def not_yet_covered(self) -> int:
        return max(0, self.rows - self.covered)

    def to_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "checkpoints": self.checkpoints,
                "covered": self.covered, "rows": self.rows,
                "not_yet_covered": self.not_yet_covered,
                "latest": None if self.latest is None else self.latest.summary(),
                "first_problem": None if self.first_problem is None
                else self.first_problem.to_dict()}


def check_directory(directory: Path, keys: dict[str, Ed25519PublicKey]
                    ) -> tuple[list[Checkpoint], bytes, DigestProblem | None]:
    """Check the checkpoints among themselves: signatures, consistency proofs, and that
    the leaves files give each signed root. Returns them, every leaf they cover (packed),
    and the first problem."""
    cps = checkpoints(directory)
    leaves = bytearray()
    front = merkle.Frontier()
    prev: Checkpoint | None = None
    for cp in cps:
        why = cp.verify_signature(keys)
        if why is None and cp.previous_size != (prev.tree_size if prev else 0):
            why = (f"says it follows checkpoint {cp.previous_size}, but the one before it "
                   f"is {prev.tree_size if prev else 0}: a checkpoint was removed")
        # Every tree extends the empty one (RFC 9162: no proof is needed from size 0).
        if why is None and prev is not None and prev.tree_size and not merkle.verify_consistency(
                prev.tree_size, cp.tree_size, prev.root_hash, cp.root_hash, cp.consistency):
            why = f"is not an extension of checkpoint {prev.tree_size} (consistency proof fails)"
        if why is None:
            try:
                data = leaves_file(directory, cp.tree_size).read_bytes()
            except OSError as exc:
                data, why = b"", f"its leaves file cannot be read ({exc.strerror})"
            if why is None and len(data) != merkle.HASH_SIZE * (cp.tree_size - front.size):
                why = "its leaves file has the wrong length: it was changed"
            if why is None:
                for i in range(0, len(data), merkle.HASH_SIZE):
                    front.add(merkle.leaf_hash(data[i:i + merkle.HASH_SIZE]))
                if front.root() != cp.root_hash:
                    why = "its leaves file does not give its root: it was changed"
                leaves += data
        if why is not None:
            return cps, bytes(leaves), DigestProblem(cp.tree_size, None, None, None,
                                                     f"checkpoint {cp.tree_size}: {why}")
        prev = cp
    return cps, bytes(leaves), None


def verify(conn: Connection, directory: Path, keys: dict[str, Ed25519PublicKey]
           ) -> DigestReport:
    """Check that every checkpoint in ``directory`` is a prefix of today's ledger and every
    row it covers is unchanged (the stored chain hash; ``ConsentStore.verify`` checks that
    each chain hash still matches its row). Rows after the latest checkpoint are counted
    as not yet covered."""
    cps, leaves, problem = check_directory(directory, keys)
    latest = cps[-1] if cps else None
    covered = latest.tree_size if latest else 0
    rows = 0
    for index, (position, event_id, chain_hash) in enumerate(_leaf_rows(conn)):
        rows += 1
        if problem is None and index < covered:
            want = leaves[index * merkle.HASH_SIZE:(index + 1) * merkle.HASH_SIZE]
            if _leaf_data(chain_hash) != want:
                cp = next(c for c in cps if c.tree_size > index)
                problem = DigestProblem(
                    cp.tree_size, index, event_id, position,
                    f"leaf {index} (position {position}, event {event_id}) is not the row "
                    f"checkpoint {cp.tree_size} signed there (chain hash {want.hex()[:16]}…): "
                    "a row was changed and re-sealed, removed, inserted or moved")
    if problem is None and rows < covered:
        cp = next(c for c in cps if c.tree_size > rows)
        problem = DigestProblem(cp.tree_size, rows, None, None,
                                f"leaf {rows}: checkpoint {cp.tree_size} covers {covered} rows, "
                                f"the ledger holds {rows}: rows were removed")
    return DigestReport(len(cps), covered, rows, latest, problem)


def _leaf_rows(conn: Connection) -> Iterator[tuple[int, str, str | None]]:
    stmt = (select(consent_events.c.position, consent_events.c.event_id,
                   consent_events.c.chain_hash).order_by(consent_events.c.position))
    for r in conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt):
        yield int(r.position), r.event_id, r.chain_hash


def public_keys(paths: Sequence[Path]) -> dict[str, Ed25519PublicKey]:
    keys = [load_public_key(p) for p in paths]
    return {key_id(k): k for k in keys}
