"""Who may reach the store over HTTP: API tokens, console agents, the sign-in audit.

Functions over an ``Engine``, not ``ConsentStore`` methods: none of this is consent data,
and none of it goes through the queue (it changes no consent). Secrets never reach this
module in the clear except a token at creation, which is returned once and stored hashed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from consent_store.access_schema import agents, api_tokens, sign_ins
from consent_store.errors import BadRequest, NotFound
from consent_store.timeutil import iso

SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "cgw_"  # noqa: S105 (a marker, not a secret)
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str, what: str) -> str:
    if not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise BadRequest(f"{what} name must be 1..64 of letters, digits and . _ - @")
    return name


def parse_scopes(text: str) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    bad = [s for s in found if s not in SCOPES]
    if not found or bad:
        raise BadRequest(f"scopes must be a comma-separated subset of {', '.join(SCOPES)}"
                         + (f"; not {', '.join(bad)}" if bad else ""))
    return found


@dataclass(frozen=True, slots=True)
class Token:
    token_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.token_id, "name": self.name, "scopes": list(self.scopes),
                "created_at": iso(self.created_at), "revoked_at": iso(self.revoked_at)}


def _token(row: Any) -> Token:
    return Token(row.token_id, row.name, tuple(row.scopes.split(",")), row.created_at,
                 row.revoked_at)


def create_token(engine: Engine, name: str, scopes: tuple[str, ...],
                 now: datetime) -> tuple[Token, str]:
    """A new token named ``name``; returns it and its secret (shown once, never stored)."""
    check_name(name, "token")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = Token(secrets.token_hex(16), name, scopes, now)
    with engine.begin() as conn:
        active = conn.execute(select(api_tokens.c.token_id).where(
            api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).first()
        if active is not None:
            raise BadRequest(f"a token named {name!r} exists; revoke it first or pick another name")
        conn.execute(api_tokens.insert().values(
            token_id=token.token_id, name=name, token_hash=token_hash(secret),
            scopes=",".join(scopes), created_at=now))
    return token, secret


def list_tokens(engine: Engine, *, include_revoked: bool = False) -> list[Token]:
    stmt = select(api_tokens).order_by(api_tokens.c.name, api_tokens.c.created_at)
    if not include_revoked:
        stmt = stmt.where(api_tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_token(r) for r in conn.execute(stmt)]


def revoke_token(engine: Engine, name: str, now: datetime) -> Token:
    with engine.begin() as conn:
        row = conn.execute(select(api_tokens).where(
            api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))).first()
        if row is None:
            raise NotFound(f"no active token named {name!r}")
        conn.execute(update(api_tokens).where(api_tokens.c.token_id == row.token_id)
                     .values(revoked_at=now))
    return Token(row.token_id, row.name, tuple(row.scopes.split(",")), row.created_at, now)


def find_token(engine: Engine, secret: str) -> Token | None:
    """The active token whose secret is ``secret``, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens).where(
            api_tokens.c.token_hash == token_hash(secret),
            api_tokens.c.revoked_at.is_(None))).first()
    return None if row is None else _token(row)


# --- agents ---------------------------------------------------------------------------

def add_agent(engine: Engine, name: str, password_hash: str, now: datetime) -> None:
    check_name(name, "agent")
    with engine.begin() as conn:
        if conn.execute(select(agents.c.name).where(agents.c.name == name)).first():
            raise BadRequest(f"agent {name!r} exists")
        conn.execute(agents.insert().values(name=name, password_hash=password_hash,
                                            created_at=now))


def agent_password_hash(engine: Engine, name: str) -> str | None:
    """The stored hash of an enabled agent, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(agents.c.password_hash).where(
            agents.c.name == name, agents.c.disabled_at.is_(None))).first()
    return None if row is None else str(row.password_hash)


def set_agent_password_hash(engine: Engine, name: str, password_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(agents).where(agents.c.name == name)
                     .values(password_hash=password_hash))


def disable_agent(engine: Engine, name: str, now: datetime) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(agents).where(agents.c.name == name,
                                                 agents.c.disabled_at.is_(None))
                            .values(disabled_at=now)).rowcount
    if not done:
        raise NotFound(f"no enabled agent named {name!r}")


def list_agents(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [{"name": r.name, "created_at": iso(r.created_at),
                 "disabled_at": iso(r.disabled_at)}
                for r in conn.execute(select(agents).order_by(agents.c.name))]


def record_sign_in(engine: Engine, agent: str, event: str, ok: bool, now: datetime,
                   remote: str | None, user_agent: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sign_ins.insert().values(
            agent=agent[:64], at=now, event=event, ok=ok, remote=(remote or "")[:64] or None,
            user_agent=(user_agent or "")[:200] or None))


def sign_in_log(engine: Engine, agent: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    stmt = select(sign_ins).order_by(sign_ins.c.id.desc()).limit(limit)
    if agent is not None:
        stmt = stmt.where(sign_ins.c.agent == agent)
    with engine.connect() as conn:
        return [{"agent": r.agent, "at": iso(r.at), "event": r.event, "ok": bool(r.ok),
                 "remote": r.remote, "user_agent": r.user_agent} for r in conn.execute(stmt)]
