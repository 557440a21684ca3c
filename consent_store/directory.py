"""The subscriber directory as LMT's customer systems keep it: a whole-file sync and one
row at a time, and the consent changes they cause (docs/store.md, "The directory").

A sync streams the file into a temporary staging table (PostgreSQL: ``COPY``; SQLite:
executemany in chunks) and computes the difference with the directory in SQL, so memory
stays flat whatever the file's size. Applying it is one transaction: the directory rows,
the outbox rows of the consent changes it causes (``directory_changes``: a handover, the
lapse of a number that left LMT) and the sync's record. The consent changes themselves
are not made here: they are queued for the workers after the commit, like every change
of a number (``ConsentStore.queue_directory_changes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)

from consent_store.dialect import is_postgresql
from consent_store.engine import WRITE
from consent_store.schema import directory_changes, directory_syncs, subscribers
from consent_store.timeutil import UtcDateTime, iso
from consent_store.upkeep import chunked
from consent_store.views import SubscriberRow

# Rows per executemany on SQLite (PostgreSQL streams them through one COPY).
LOAD_CHUNK = 5000
# Rows of each kind a difference lists (the counts are always complete).
SAMPLE = 10
KINDS = ("added", "changed_group", "changed_independence", "left", "new_holder")

_stage_meta = MetaData()
# One per connection (a temporary table), dropped when the sync ends.
stage = Table(
    "directory_stage", _stage_meta,
    Column("msisdn", String(32), nullable=False),
    Column("client_group", String(8), nullable=False),
    Column("independent", Boolean(create_constraint=False), nullable=False),
    Column("holder", String(200), nullable=True),
    Column("line", BigInteger(), nullable=False),
    prefixes=["TEMPORARY"],
)

d = subscribers.alias("d")
s = stage.alias("s")
_current = d.c.left_at.is_(None)
_joined = s.join(d, d.c.msisdn == s.c.msisdn)
_handover = and_(s.c.holder.is_not(None), d.c.holder.is_not(None), s.c.holder != d.c.holder)
_absent = ~exists(select(stage.c.msisdn).where(stage.c.msisdn == d.c.msisdn))
# A number leaves LMT when it drops out of the file or is listed as another operator's.
_leaves_lmt_absent = and_(_current, d.c.client_group == "lmt", _absent)
_leaves_lmt_listed = and_(_current, d.c.client_group == "lmt", s.c.client_group == "other")


@dataclass
class Difference:
    """What a sync would change (or changed): counts per kind and a few rows of each."""

    directory_before: int = 0
    rows: int = 0
    added: int = 0
    changed_group: int = 0
    changed_independence: int = 0
    left: int = 0
    new_holder: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # What the directory was when this was computed (rows, newest updated_at): every
    # write of the directory stamps updated_at, so an equal mark means an equal directory.
    mark: tuple[int, str | None] = (0, None)

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("directory_before", "rows", *KINDS)}

    def drop_share(self) -> float:
        return self.left / self.directory_before if self.directory_before else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["mark"]
        return out


@dataclass(frozen=True)
class Duplicate:
    msisdn: str
    line: int
    first_line: int


def create_stage(conn: Connection) -> None:
    stage.drop(conn, checkfirst=True)
    stage.create(conn)


def drop_stage(conn: Connection) -> None:
    stage.drop(conn, checkfirst=True)


def load_stage(conn: Connection, rows: Iterable[tuple[int, SubscriberRow]]) -> int:
    """Stream ``(line, row)`` pairs into the staging table; how many were loaded."""
    if is_postgresql(conn):
        n = _copy(conn, rows)
    else:
        n = 0
        for chunk in chunked(rows, LOAD_CHUNK):
            conn.execute(stage.insert(), [
                {"msisdn": r.msisdn, "client_group": r.client_group,
                 "independent": r.independent, "holder": r.holder, "line": line}
                for line, r in chunk])
            n += len(chunk)
    # Indexed after the load (cheaper than keeping an index up while loading).
    conn.execute(text("CREATE INDEX ix_directory_stage_msisdn ON directory_stage "
                      "(msisdn, line)"))
    conn.execute(text("ANALYZE directory_stage"))
    return n


def _copy(conn: Connection, rows: Iterable[tuple[int, SubscriberRow]]) -> int:
    # psycopg's COPY: the rows travel in the COPY protocol, no statement per row.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    n = 0
    with cursor.copy("COPY directory_stage (msisdn, client_group, independent, holder, line) "
                     "FROM STDIN") as copy:
        for line, r in rows:
            copy.write_row((r.msisdn, r.client_group, r.independent, r.holder, line))
            n += 1
    cursor.close()
    return n


def duplicates(conn: Connection, limit: int) -> tuple[int, list[Duplicate]]:
    """Numbers listed more than once: (how many later lines, the first ``limit`` of them)."""
    first = stage.alias("f")
    later = and_(first.c.msisdn == s.c.msisdn, first.c.line < s.c.line)
    n = conn.execute(select(func.count()).select_from(s).where(
        exists(select(first.c.line).where(later)))).scalar_one()
    if not n:
        return 0, []
    stmt = (select(s.c.msisdn, s.c.line,
                   select(func.min(first.c.line)).where(later).scalar_subquery().label("at"))
            .where(exists(select(first.c.line).where(later))).order_by(s.c.line).limit(limit))
    return int(n), [Duplicate(r.msisdn, int(r.line), int(r.at)) for r in conn.execute(stmt)]


def _kind_queries() -> dict[str, Any]:
    """Per kind: the rows it selects (``msisdn`` and what changed)."""
    return {
        "added": select(s.c.msisdn, s.c.client_group, s.c.independent, s.c.holder)
        .select_from(s.outerjoin(d, d.c.msisdn == s.c.msisdn))
        .where(or_(d.c.msisdn.is_(None), d.c.left_at.is_not(None))),
        "changed_group": select(s.c.msisdn, d.c.client_group.label("before"),
                                s.c.client_group.label("after"))
        .select_from(_joined).where(_current, d.c.client_group != s.c.client_group),
        "changed_independence": select(s.c.msisdn, d.c.independent.label("before"),
                                       s.c.independent.label("after"))
        .select_from(_joined).where(_current, d.c.independent != s.c.independent),
        "left": select(d.c.msisdn, d.c.client_group).select_from(d)
        .where(_current, _absent),
        "new_holder": select(s.c.msisdn, d.c.holder.label("before"), s.c.holder.label("after"))
        .select_from(_joined).where(_handover),
    }


def _n(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def difference(conn: Connection, sample: int = SAMPLE) -> Difference:
    """The difference between the staging table and the directory: the counts in two
    passes (the file against the directory, the directory against the file), and up to
    ``sample`` rows of each kind."""
    diff = Difference(mark=directory_mark(conn))
    listed = d.c.left_at.is_(None) & d.c.msisdn.is_not(None)
    first = conn.execute(select(
        func.count(), _n(d.c.msisdn.is_(None) | d.c.left_at.is_not(None)),
        _n(listed & (d.c.client_group != s.c.client_group)),
        _n(listed & (d.c.independent != s.c.independent)), _n(_handover))
        .select_from(s.outerjoin(d, d.c.msisdn == s.c.msisdn))).one()
    diff.rows, diff.added, diff.changed_group, diff.changed_independence, \
        diff.new_holder = (int(v) for v in first)
    second = conn.execute(select(func.count(), _n(_absent)).select_from(d)
                          .where(_current)).one()
    diff.directory_before, diff.left = int(second[0]), int(second[1])
    if sample:
        for kind, stmt in _kind_queries().items():
            # Any rows of the kind, not the first by number: LIMIT then stops the scan.
            diff.samples[kind] = [r._asdict() for r in conn.execute(stmt.limit(sample))]
    return diff


def open_sync(conn: Connection, source: str, now: datetime) -> int:
    """Record a sync starting; its id."""
    result = conn.execute(insert(directory_syncs).values(
        started_at=now, source=source[:200], outcome="running", rows=0, bad_rows=0,
        directory_before=0, added=0, changed_group=0, changed_independence=0, left=0,
        new_holder=0).returning(directory_syncs.c.id))
    return int(result.scalar_one())


def close_sync(conn: Connection, sync_id: int, outcome: str, diff: Difference | None,
               bad_rows: int, now: datetime, detail: str | None = None) -> None:
    counts = diff.counts() if diff is not None else {}
    conn.execute(update(directory_syncs).where(directory_syncs.c.id == sync_id).values(
        finished_at=now, outcome=outcome, bad_rows=bad_rows, detail=detail, **counts))


def directory_mark(conn: Connection) -> tuple[int, str | None]:
    row = conn.execute(select(func.count(), func.max(subscribers.c.updated_at))
                       .select_from(subscribers)).one()
    return int(row[0]), iso(row[1])


def apply_stage(conn: Connection, sync_id: int, now: datetime,
                seen: Difference | None = None) -> Difference:
    """Make the directory what the staging table says (inside a write transaction):
    the outbox rows first (they need the rows as they were), then the rows. ``seen`` (the
    difference shown before) is what is applied when the directory has not changed since;
    otherwise it is computed again."""
    if is_postgresql(conn):
        # Other writers of the directory (an import, a PUT, another sync) wait; readers
        # (eligibility) do not. SQLite's write transaction already excludes them.
        conn.execute(text("LOCK TABLE subscribers IN SHARE ROW EXCLUSIVE MODE"))
    diff = seen if seen is not None and seen.mark == directory_mark(conn) \
        else difference(conn, sample=0)
    prefix = f"dir:{sync_id}:"
    at = bindparam("now", now, type_=UtcDateTime())
    outbox = [directory_changes.c.event_id, directory_changes.c.sync_id,
              directory_changes.c.msisdn, directory_changes.c.kind,
              directory_changes.c.old_holder, directory_changes.c.new_holder,
              directory_changes.c.created_at]
    conn.execute(insert(directory_changes).from_select(outbox, select(
        literal(prefix) + s.c.msisdn + literal(":handover"), literal(sync_id), s.c.msisdn,
        literal("handover"), d.c.holder, s.c.holder, at)
        .select_from(_joined).where(_handover).order_by(s.c.msisdn)))
    leaving = select(d.c.msisdn).select_from(d).where(_leaves_lmt_absent).union_all(
        select(d.c.msisdn).select_from(_joined).where(_leaves_lmt_listed)).subquery()
    conn.execute(insert(directory_changes).from_select(outbox, select(
        literal(prefix) + leaving.c.msisdn + literal(":leave"), literal(sync_id),
        leaving.c.msisdn, literal("leave"), literal(None, String()), literal(None, String()),
        at).order_by(leaving.c.msisdn)))
    _upsert_from_stage(conn, now)
    conn.execute(update(subscribers).where(
        subscribers.c.left_at.is_(None),
        ~exists(select(stage.c.msisdn).where(stage.c.msisdn == subscribers.c.msisdn)))
        .values(client_group="other", independent=True, left_at=now, updated_at=now))
    return diff


_UPSERT = """
INSERT INTO subscribers (msisdn, client_group, independent, holder, updated_at, left_at)
SELECT s.msisdn, s.client_group, s.independent, s.holder, :now, NULL
FROM directory_stage AS s LEFT JOIN subscribers AS d ON d.msisdn = s.msisdn
WHERE d.msisdn IS NULL OR d.left_at IS NOT NULL OR d.client_group <> s.client_group
   OR d.independent <> s.independent
   OR (s.holder IS NOT NULL AND (d.holder IS NULL OR d.holder <> s.holder))
ON CONFLICT (msisdn) DO UPDATE SET client_group = excluded.client_group,
   independent = excluded.independent,
   holder = COALESCE(excluded.holder, subscribers.holder),
   updated_at = excluded.updated_at, left_at = NULL"""


def _upsert_from_stage(conn: Connection, now: datetime) -> None:
    # Rows that change only: an unchanged number keeps its updated_at (and costs no write).
    conn.execute(text(_UPSERT).bindparams(bindparam("now", now, type_=UtcDateTime())))


class Sync:
    """One sync on one connection: load the file into the staging table, look at the
    difference, then apply it or record why not. ``clock`` stamps every instant."""

    def __init__(self, conn: Connection, clock: Callable[[], datetime], source: str) -> None:
        self.conn = conn
        self.clock = clock
        self.source = source

    def load(self, rows: Iterable[tuple[int, SubscriberRow]]) -> int:
        with self.conn.begin():
            create_stage(self.conn)
            return load_stage(self.conn, rows)

    def duplicates(self, limit: int) -> tuple[int, list[Duplicate]]:
        with self.conn.begin():
            return duplicates(self.conn, limit)

    def difference(self, sample: int = SAMPLE) -> Difference:
        with self.conn.begin():
            return difference(self.conn, sample)

    def apply(self, bad_rows: int = 0, seen: Difference | None = None
              ) -> tuple[int, Difference]:
        """Apply the difference (as it stands now: ``seen`` if the directory has not
        changed since it was computed) in one write transaction; the sync's id and what
        it changed."""
        self.conn.execution_options(**WRITE)
        try:
            with self.conn.begin():
                sync_id = open_sync(self.conn, self.source, self.clock())
                diff = apply_stage(self.conn, sync_id, self.clock(), seen)
                close_sync(self.conn, sync_id, "applied", diff, bad_rows, self.clock())
        finally:
            self.conn.execution_options(consent_store_write=False)
        return sync_id, diff

    def record(self, outcome: str, diff: Difference | None, bad_rows: int,
               detail: str | None = None) -> int:
        """Record a sync that was not applied (``dry_run``, ``refused``)."""
        self.conn.execution_options(**WRITE)
        try:
            with self.conn.begin():
                sync_id = open_sync(self.conn, self.source, self.clock())
                close_sync(self.conn, sync_id, outcome, diff, bad_rows, self.clock(), detail)
        finally:
            self.conn.execution_options(consent_store_write=False)
        return sync_id

    def close(self) -> None:
        try:
            with self.conn.begin():
                drop_stage(self.conn)
        finally:
            self.conn.close()


# --- one row (PUT /v1/subscribers/{msisdn}) ----------------------------------------------

def put_row(conn: Connection, row: SubscriberRow, now: datetime, event_base: str
            ) -> tuple[list[str], list[dict[str, Any]]]:
    """Make ``row`` the number's directory row (inside a write transaction): what changed
    (kinds as a sync names them) and the outbox rows written. The same row again changes
    nothing (idempotent)."""
    old = conn.execute(select(subscribers).where(subscribers.c.msisdn == row.msisdn)
                       .with_for_update()).first()
    kinds: list[str] = []
    changes: list[dict[str, Any]] = []
    current = old is not None and old.left_at is None
    if old is None or not current:
        kinds.append("added")
    else:
        if old.client_group != row.client_group:
            kinds.append("changed_group")
        if bool(old.independent) != row.independent:
            kinds.append("changed_independence")
    if old is not None and old.holder is not None and row.holder is not None \
            and old.holder != row.holder:
        kinds.append("new_holder")
        changes.append({"event_id": f"{event_base}:handover", "sync_id": None,
                        "msisdn": row.msisdn, "kind": "handover", "old_holder": old.holder,
                        "new_holder": row.holder, "created_at": now})
    if old is not None and current and old.client_group == "lmt" \
            and row.client_group == "other":
        changes.append({"event_id": f"{event_base}:leave", "sync_id": None,
                        "msisdn": row.msisdn, "kind": "leave", "old_holder": None,
                        "new_holder": None, "created_at": now})
    holder_known = row.holder is not None and (old is None or old.holder != row.holder)
    if kinds or holder_known:
        values = {"client_group": row.client_group, "independent": row.independent,
                  "updated_at": now, "left_at": None,
                  "holder": row.holder if row.holder is not None
                  else (None if old is None else old.holder)}
        if old is None:
            conn.execute(insert(subscribers).values(msisdn=row.msisdn, **values))
        else:
            conn.execute(update(subscribers).where(subscribers.c.msisdn == row.msisdn)
                         .values(**values))
    if changes:
        conn.execute(insert(directory_changes), changes)
    return kinds, changes


# --- the outbox -------------------------------------------------------------------------

def pending_changes(conn: Connection, limit: int) -> list[Any]:
    """Outbox rows not yet queued, oldest first."""
    return list(conn.execute(
        select(directory_changes).where(directory_changes.c.queued_at.is_(None))
        .order_by(directory_changes.c.id).limit(limit)))


def mark_queued(conn: Connection, ids: list[int], now: datetime) -> None:
    conn.execute(update(directory_changes).where(directory_changes.c.id.in_(ids))
                 .values(queued_at=now))


def last_sync(conn: Connection) -> dict[str, Any] | None:
    """The newest sync that read a file (applied, dry run or refused), as data."""
    row = conn.execute(select(directory_syncs).where(directory_syncs.c.outcome != "running")
                       .order_by(directory_syncs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    out = row._asdict()
    for k in ("started_at", "finished_at"):
        out[k] = iso(out[k])
    out["last_applied_at"] = iso(conn.execute(
        select(func.max(directory_syncs.c.finished_at))
        .where(directory_syncs.c.outcome == "applied")).scalar())
    out["pending_changes"] = int(conn.execute(
        select(func.count()).select_from(directory_changes)
        .where(directory_changes.c.queued_at.is_(None))).scalar_one())
    return out
