"""Webhook subscriptions: add, list, remove, replay, and the deliverer's bookkeeping.

A subscription's delivery state lives in its row (``webhooks_schema.py``): the feed
position the receiver has accepted, and while it fails, the tries, the next try and
whether it is parked. The deliverer holds a short lease on a row while it delivers, so two
deliverers never send one subscription's events out of order.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, or_, select, update

from consent_core.model import CONSENTS
from consent_store import api_reads
from consent_store.engine import WRITE
from consent_store.errors import BadRequest, NotFound
from consent_store.timeutil import iso
from consent_store.webhooks_schema import webhooks

ACTIVE = "active"
PARKED = "parked"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret): the Standard Webhooks secret form: whsec_ + base64
# Standard Webhooks asks for secrets of 24 to 64 bytes.
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    url: str
    secret: str
    consents: tuple[str, ...] | None  # None: every consent
    created_at: datetime
    removed_at: datetime | None
    position: int
    state: str
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None

    def wants(self, change: dict[str, Any]) -> bool:
        """Whether this subscription is sent the change (an erasure, which names no
        consent, ends every consent of the number and goes to everyone)."""
        consent = change.get("consent")
        return self.consents is None or consent is None or consent in self.consents

    def to_dict(self) -> dict[str, Any]:
        """The subscription as shown to operators: never the secret."""
        return {"id": self.id, "url": self.url,
                "consents": None if self.consents is None else list(self.consents),
                "state": "removed" if self.removed_at is not None else self.state,
                "position": self.position, "attempts": self.attempts,
                "failing_since": iso(self.failing_since),
                "next_attempt_at": iso(self.next_attempt_at), "last_error": self.last_error,
                "delivered_at": iso(self.delivered_at), "created_at": iso(self.created_at),
                "removed_at": iso(self.removed_at)}


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> str:
    """``secret`` if it is a Standard Webhooks secret (``whsec_`` + base64 of 24–64 bytes)."""
    body = secret.strip()
    if not body.startswith(SECRET_PREFIX):
        raise BadRequest("the secret must be whsec_ followed by base64 (e.g. "
                         "whsec_$(openssl rand -base64 32))")
    try:
        raw = base64.b64decode(body[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the secret after whsec_ is not base64") from None
    if not SECRET_MIN_BYTES <= len(raw) <= SECRET_MAX_BYTES:
        raise BadRequest(f"the secret decodes to {len(raw)} bytes; Standard Webhooks wants "
                         f"{SECRET_MIN_BYTES} to {SECRET_MAX_BYTES}")
    return body


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"not an http(s) URL: {url!r}")
    return url.strip()


def check_consents(names: Sequence[str] | None) -> tuple[str, ...] | None:
    if not names:
        return None
    out = []
    for name in names:
        n = name.strip().upper()
        if n not in CONSENTS:
            raise BadRequest(f"unknown consent {name!r}; one of {', '.join(CONSENTS)}")
        if n not in out:
            out.append(n)
    return tuple(out)


def _row(r: Any) -> Subscription:
    return Subscription(
        id=int(r.id), url=r.url, secret=r.secret,
        consents=None if not r.consents else tuple(r.consents.split(",")),
        created_at=r.created_at, removed_at=r.removed_at, position=int(r.position),
        state=r.state, attempts=int(r.attempts), failing_since=r.failing_since,
        next_attempt_at=r.next_attempt_at, last_error=r.last_error,
        delivered_at=r.delivered_at)


def add(engine: Engine, url: str, secret: str, consents: Sequence[str] | None,
        now: datetime, start: int | None = None) -> Subscription:
    """A new subscription; it is sent the changes after feed position ``start`` (None:
    the changes from now on)."""
    url, secret, wanted = check_url(url), check_secret(secret), check_consents(consents)
    with engine.execution_options(**WRITE).begin() as conn:
        if start is None:
            start = api_reads.latest_position(conn)
        new_id = conn.execute(webhooks.insert().values(
            url=url, secret=secret, consents=None if wanted is None else ",".join(wanted),
            created_at=now, position=start, state=ACTIVE, attempts=0)
            .returning(webhooks.c.id)).scalar_one()
    return get(engine, int(new_id))


def get(engine: Engine, sub_id: int) -> Subscription:
    with engine.connect() as conn:
        r = conn.execute(select(webhooks).where(webhooks.c.id == sub_id)).first()
    if r is None:
        raise NotFound(f"no webhook {sub_id}")
    return _row(r)


def subscriptions(engine: Engine, *, include_removed: bool = False) -> list[Subscription]:
    stmt = select(webhooks).order_by(webhooks.c.id)
    if not include_removed:
        stmt = stmt.where(webhooks.c.removed_at.is_(None))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(stmt)]


def remove(engine: Engine, sub_id: int, now: datetime) -> Subscription:
    with engine.execution_options(**WRITE).begin() as conn:
        done = conn.execute(update(webhooks).where(webhooks.c.id == sub_id,
                                                   webhooks.c.removed_at.is_(None))
                            .values(removed_at=now)).rowcount
    if not done:
        raise NotFound(f"no webhook {sub_id} (or it was removed already)")
    return get(engine, sub_id)


def replay(engine: Engine, sub_id: int, from_position: int | None = None) -> Subscription:
    """Resume a subscription (parked or backing off) now; with ``from_position``, deliver
    again every change after that position (receivers deduplicate by event id)."""
    values: dict[str, Any] = {"state": ACTIVE, "attempts": 0, "failing_since": None,
                              "next_attempt_at": None, "last_error": None}
    if from_position is not None:
        if from_position < 0:
            raise BadRequest("the position to replay from is 0 or more")
        values["position"] = from_position
    with engine.execution_options(**WRITE).begin() as conn:
        done = conn.execute(update(webhooks).where(webhooks.c.id == sub_id,
                                                   webhooks.c.removed_at.is_(None))
                            .values(**values)).rowcount
    if not done:
        raise NotFound(f"no webhook {sub_id} (or it was removed)")
    return get(engine, sub_id)


# --- the deliverer's bookkeeping ------------------------------------------------------

def due(engine: Engine, now: datetime) -> list[Subscription]:
    """Active subscriptions whose next try is due (or that are not failing)."""
    stmt = (select(webhooks)
            .where(webhooks.c.removed_at.is_(None), webhooks.c.state == ACTIVE,
                   or_(webhooks.c.next_attempt_at.is_(None), webhooks.c.next_attempt_at <= now))
            .order_by(webhooks.c.id))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(stmt)]


def claim(engine: Engine, sub_id: int, owner: str, now: datetime, lease: timedelta
          ) -> Subscription | None:
    """The subscription, leased to ``owner`` until ``now + lease``; None when another
    deliverer holds it, or it is removed, parked or not due."""
    with engine.execution_options(**WRITE).begin() as conn:
        done = conn.execute(
            update(webhooks)
            .where(webhooks.c.id == sub_id, webhooks.c.removed_at.is_(None),
                   webhooks.c.state == ACTIVE,
                   or_(webhooks.c.next_attempt_at.is_(None), webhooks.c.next_attempt_at <= now),
                   or_(webhooks.c.lease_until.is_(None), webhooks.c.lease_until < now,
                       webhooks.c.lease_owner == owner))
            .values(lease_owner=owner, lease_until=now + lease)).rowcount
        if not done:
            return None
        return _row(conn.execute(select(webhooks).where(webhooks.c.id == sub_id)).one())


def _mine(sub_id: int, owner: str) -> Any:
    return and_(webhooks.c.id == sub_id, webhooks.c.lease_owner == owner)


def advance(engine: Engine, sub_id: int, owner: str, position: int,
            delivered_at: datetime | None, lease_until: datetime, *,
            release: bool = False) -> bool:
    """Record that the receiver has everything up to ``position`` (``delivered_at``: it
    accepted an event just now; None: only rows it is not sent were passed), and keep the
    lease until ``lease_until`` — or give it up (``release``: the round's last write).
    False when the lease was lost (another deliverer took over; it starts from the stored
    position)."""
    values: dict[str, Any] = {"position": position, "attempts": 0, "failing_since": None,
                              "next_attempt_at": None, "last_error": None,
                              "lease_until": None if release else lease_until}
    if release:
        values["lease_owner"] = None
    if delivered_at is not None:
        values["delivered_at"] = delivered_at
    with engine.execution_options(**WRITE).begin() as conn:
        return bool(conn.execute(update(webhooks)
                                 .where(_mine(sub_id, owner), webhooks.c.position <= position)
                                 .values(**values)).rowcount)


def failed(engine: Engine, sub_id: int, owner: str, now: datetime, error: str,
           retry_at: datetime, park_after: timedelta) -> str:
    """Record a failed try; the subscription's state after it (parked once it has been
    failing for ``park_after``)."""
    with engine.execution_options(**WRITE).begin() as conn:
        r = conn.execute(select(webhooks.c.failing_since, webhooks.c.attempts)
                         .where(_mine(sub_id, owner))).first()
        if r is None:
            return ACTIVE  # the lease was lost; the new holder decides
        since = r.failing_since or now
        state = PARKED if now - since >= park_after else ACTIVE
        conn.execute(update(webhooks).where(_mine(sub_id, owner))
                     .values(attempts=int(r.attempts) + 1, failing_since=since,
                             next_attempt_at=None if state == PARKED else retry_at,
                             last_error=error[:500], state=state, lease_owner=None,
                             lease_until=None))
    return state


def release(engine: Engine, sub_id: int, owner: str) -> None:
    with engine.execution_options(**WRITE).begin() as conn:
        conn.execute(update(webhooks).where(_mine(sub_id, owner))
                     .values(lease_owner=None, lease_until=None))
