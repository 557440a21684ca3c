"""Who may use the HTTP API and the console: ``api-token create|list|revoke`` and
``agent add|list|disable|passwd|sign-ins``."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from consentctl.cli import EXIT_OK, Context, UsageError
from consentctl.output import print_json, print_table


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tok = sub.add_parser("api-token", parents=[common], help="bearer tokens of the HTTP API")
    tsub = tok.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = tsub.add_parser("create", parents=[common],
                        help="new token; printed once, as the last line")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--scopes", required=True, metavar="LIST",
                   help="comma-separated: read, write, admin (admin includes the others)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=token_create)
    p = tsub.add_parser("list", parents=[common], help="tokens (never their secrets)")
    p.add_argument("--all", action="store_true", help="include revoked tokens")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=token_list)
    p = tsub.add_parser("revoke", parents=[common], help="revoke the active token NAME")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=token_revoke)

    ag = sub.add_parser("agent", parents=[common], help="customer-centre agents of the console")
    asub = ag.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    p = asub.add_parser("add", parents=[common],
                        help="new agent; a generated password is printed as the last line "
                             "unless --password-stdin")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of standard input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=agent_add)
    p = asub.add_parser("passwd", parents=[common], help="set a new password (same options)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=agent_passwd)
    p = asub.add_parser("list", parents=[common], help="agents")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=agent_list)
    p = asub.add_parser("disable", parents=[common], help="the agent can no longer sign in")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=agent_disable)
    p = asub.add_parser("sign-ins", parents=[common], help="the sign-in audit, newest first")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=agent_sign_ins)


def _engine(ctx: Context) -> Any:
    return ctx.store.engine


def _now() -> Any:
    from consent_core.clock import system_clock

    return system_clock()


def token_create(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import create_token, parse_scopes
    from consent_store.errors import BadRequest

    try:
        token, secret = create_token(_engine(ctx), args.name, parse_scopes(args.scopes), _now())
    except BadRequest as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print_json({**token.to_dict(), "token": secret})
        return EXIT_OK
    print(f"token {token.name} ({','.join(token.scopes)}) created; it is shown only now:")
    print(secret)
    return EXIT_OK


def token_list(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import list_tokens

    tokens = list_tokens(_engine(ctx), include_revoked=args.all)
    if args.json:
        print_json([t.to_dict() for t in tokens])
        return EXIT_OK
    print_table(["NAME", "SCOPES", "CREATED", "REVOKED"],
                [[d["name"], ",".join(d["scopes"]), d["created_at"], d["revoked_at"] or ""]
                 for d in (t.to_dict() for t in tokens)])
    return EXIT_OK


def token_revoke(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import revoke_token

    token = revoke_token(_engine(ctx), args.name, _now())
    if args.json:
        print_json(token.to_dict())
    else:
        print(f"token {token.name} revoked (API processes stop accepting it within "
              f"{ctx.settings.api.token_cache_ttl:g} s)")
    return EXIT_OK


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was generated (then it is printed)."""
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if len(line) < 12:
            raise UsageError("the password must be at least 12 characters")
        return line, False
    if sys.stdin.isatty() and not args.json:
        first = getpass.getpass("password (empty: generate one): ")
        if first:
            if len(first) < 12:
                raise UsageError("the password must be at least 12 characters")
            if getpass.getpass("again: ") != first:
                raise UsageError("the passwords differ")
            return first, False
    return secrets.token_urlsafe(15), True


def agent_add(args: argparse.Namespace, ctx: Context) -> int:
    from consent_api.console import HASHER
    from consent_store.access import add_agent
    from consent_store.errors import BadRequest

    password, generated = _password(args)
    try:
        add_agent(_engine(ctx), args.name, HASHER.hash(password), _now())
    except BadRequest as exc:
        raise UsageError(str(exc)) from None
    return _said(args, f"agent {args.name} added", password if generated else None)


def agent_passwd(args: argparse.Namespace, ctx: Context) -> int:
    from consent_api.console import HASHER
    from consent_store.access import agent_password_hash, set_agent_password_hash
    from consent_store.errors import NotFound

    if agent_password_hash(_engine(ctx), args.name) is None:
        raise NotFound(f"no enabled agent named {args.name!r}")
    password, generated = _password(args)
    set_agent_password_hash(_engine(ctx), args.name, HASHER.hash(password))
    return _said(args, f"agent {args.name}: password set", password if generated else None)


def _said(args: argparse.Namespace, line: str, password: str | None) -> int:
    if args.json:
        print_json({"agent": args.name, "password": password})
        return EXIT_OK
    if password is None:
        print(line)
    else:
        print(f"{line}; generated password, shown only now:")
        print(password)
    return EXIT_OK


def agent_list(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import list_agents

    rows = list_agents(_engine(ctx))
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(["NAME", "CREATED", "DISABLED"],
                [[r["name"], r["created_at"], r["disabled_at"] or ""] for r in rows])
    return EXIT_OK


def agent_disable(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import disable_agent

    disable_agent(_engine(ctx), args.name, _now())
    if args.json:
        print_json({"agent": args.name, "disabled": True})
    else:
        print(f"agent {args.name} disabled")
    return EXIT_OK


def agent_sign_ins(args: argparse.Namespace, ctx: Context) -> int:
    from consent_store.access import sign_in_log

    rows = sign_in_log(_engine(ctx), args.name, args.limit)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(["AT", "AGENT", "EVENT", "REMOTE"],
                [[r["at"], r["agent"], r["event"], r["remote"] or ""] for r in rows])
    return EXIT_OK
