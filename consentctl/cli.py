"""Entry point of ``consentctl``: global options, the subcommand registry, exit codes.

Adding commands: put a module in this package that defines

    def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None

and adds its subparsers with ``parents=[common]`` and ``set_defaults(handler=fn)``, where
``fn(args: argparse.Namespace, ctx: Context) -> int`` returns the exit code. Modules are
found by name (``pkgutil``), so no change to this file is needed (``consentctl/jobs.py``
for ``jobs failed``/``jobs requeue``, ``consentctl/status.py`` for ``status``, …).

Start-up: a run imports only the module of the command it was given, found in
``COMMAND_MODULES`` (``consentctl show`` does not load Redis, RQ or structlog); help, a
mistyped or unlisted command and shell completion load them all. Adding a command to
``COMMAND_MODULES`` is therefore only a speed-up; a test keeps the table true.

Exit codes: ``EXIT_CODES`` below is the one table; ``--help`` and the README print it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from config.settings import ConfigError, Settings, settings_for
from consent_core.clock import Clock, system_clock

if TYPE_CHECKING:
    from consent_core.catalog import Catalog
    from consent_store.store import ConsentStore

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_BAD_ROWS = 3
EXIT_STORE = 4
EXIT_UNAVAILABLE = 5
EXIT_REFUSED = 6
EXIT_DEGRADED = 7
EXIT_VERIFY_FAILED = 8

# The one exit-code table (SPEC §7); --help prints it, the README copies it (a test compares).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "ok"),
    (EXIT_NOT_FOUND, "not found (no such number, job, …)"),
    (EXIT_USAGE, "usage or configuration error (bad option, no or bad config, unsupported "
                 "database URL, destructive command without --yes)"),
    (EXIT_BAD_ROWS, "import finished but some rows were bad (reported by line)"),
    (EXIT_STORE, "store error (schema missing or old, a write failed)"),
    (EXIT_UNAVAILABLE, "Redis or the database unreachable"),
    (EXIT_REFUSED, "refused by a consent rule"),
    (EXIT_DEGRADED, "degraded (status: an SMPP link not bound, a shard without a worker)"),
    (EXIT_VERIFY_FAILED, "ledger verification failed"),
)

EXAMPLES = """\
examples:
  consentctl --config /etc/sms-gateway/gateway.toml db upgrade
  consentctl subscribers import directory.csv         # , or ; separated, BOM ok
  consentctl show 29123456                            # national numbers read as Latvian
  consentctl history 37129123456 --consent VIETA --since 2026-11-01 --limit 20
  consentctl grant 37129123456 VIETA --channel customer_centre
  consentctl erase 37129123456 --reason "Art. 17 request" --yes
  consentctl status || echo "degraded or unreachable: exit $?"

configuration: --config FILE, else $SMSGW_CONFIG, else /etc/sms-gateway/gateway.toml;
none of them is an error (exit 2). SMSGW_<SECTION>__<KEY> variables override the file;
`consentctl check-config` shows what was read.

shell completion (bash): eval "$(register-python-argcomplete consentctl)"
"""

# Built in here, in help order; other modules of the package are discovered after them.
_BUILTIN = ("database", "directory", "consents")
_NOT_COMMANDS = frozenset({"cli", "__main__", "output", "progress", "directory_sync"})

# Top-level command -> the module that registers it (only what to import for a run).
COMMAND_MODULES: dict[str, str] = {
    "db": "database", "subscribers": "directory",
    **dict.fromkeys(("show", "history", "grant", "withdraw", "export", "reset", "erase",
                     "lapse"), "consents"),
    "api-token": "access", "agent": "access", "check-config": "configcheck",
    "contact": "contacts", "jobs": "jobs", "status": "status",
    **dict.fromkeys(("verify", "keygen", "digest", "verify-receipt"), "ledger"),
    "webhook": "webhooks", "audience": "audience",
}


class UsageError(Exception):
    """A bad argument value: one line on stderr, exit 2."""


def exit_code_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES)


class Context:
    """What a handler needs, loaded on first use (settings, catalog, store).

    ``clock`` is the one source of "now" for every command (the store stamps with it too).
    """

    def __init__(self, config: str | None, clock: Clock = system_clock) -> None:
        self._config = config
        self._store: ConsentStore | None = None
        self.clock = clock

    @cached_property
    def settings(self) -> Settings:
        return settings_for(self._config)

    @cached_property
    def catalog(self) -> Catalog:
        from consent_core.catalog import load_catalog

        return load_catalog(self.settings.consent.catalog or None)

    @property
    def store(self) -> ConsentStore:
        if self._store is None:
            from consent_store.engine import make_engine
            from consent_store.store import ConsentStore

            db = self.settings.database
            self._store = ConsentStore(
                make_engine(db.url.get_secret_value(), pool_size=db.pool_size),
                lang=self.settings.consent.language, clock=self.clock)
        return self._store

    @property
    def database_url(self) -> str:
        return self.settings.database.url.get_secret_value()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def msisdn_arg(text: str) -> str:
    """A number as typed by an operator: ``37129123456``, ``+371…``, ``00371…`` or the
    national ``29123456`` (read as Latvian, SPEC §7)."""
    from consent_core.msisdn import TON_UNKNOWN, BadSender, normalise

    found = normalise(text.replace(" ", ""), TON_UNKNOWN, 1)
    if isinstance(found, BadSender):
        raise argparse.ArgumentTypeError(f"not a phone number: {text!r} ({found.reason})")
    return found.digits


def positive_arg(text: str) -> int:
    """A count of at least 1 (``--limit N``)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def consent_arg(text: str) -> str:
    from consent_core.model import CONSENTS

    name = text.strip().upper()
    if name not in CONSENTS:
        raise argparse.ArgumentTypeError(
            f"unknown consent {text!r}; one of {', '.join(CONSENTS)}")
    return name


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a listed command, only that command's module is
    imported (see the module docstring), otherwise every command's."""
    common = argparse.ArgumentParser(add_help=False)
    # Also accepted after the subcommand; SUPPRESS keeps the global value when absent.
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="settings file (default: $SMSGW_CONFIG, then "
                             "/etc/sms-gateway/gateway.toml)")
    from config.version import add_version_argument

    parser = argparse.ArgumentParser(
        prog="consentctl", description="Operator tool for the SMS consent store.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{EXAMPLES}\n{exit_code_help()}")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="settings file (default: $SMSGW_CONFIG, then "
                             "/etc/sms-gateway/gateway.toml)")
    add_version_argument(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules(_only_module(argv)):
        register = getattr(module, "register", None)
        if callable(register):
            register(sub, common)
    return parser


def _only_module(argv: Sequence[str] | None) -> str | None:
    """The module of the command ``argv`` gives, or None when all must be loaded (no
    command, ``--help``/``--version`` before it, a command not in ``COMMAND_MODULES``)."""
    if argv is None:
        return None
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word.startswith("--config="):
            continue
        elif word.startswith("-"):
            return None
        else:
            return COMMAND_MODULES.get(word)
    return None


def _command_modules(only: str | None = None) -> list[Any]:
    from pathlib import Path

    if only is not None:
        names = [only]
    else:
        names = list(_BUILTIN)
        names += sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                        if m.name not in _NOT_COMMANDS and m.name not in _BUILTIN)
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(f"consentctl.{name}"))
        except ImportError as exc:  # one broken extension must not take the others down
            print(f"consentctl: commands of consentctl.{name} unavailable: {exc}",
                  file=sys.stderr)
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    from consentctl.output import escaping

    with escaping():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    import os

    from consent_core.catalog import CatalogError
    from consent_store.errors import BadRequest, NotFound, StoreError, StoreUnavailable, UnsupportedDatabase

    words = sys.argv[1:] if argv is None else list(argv)
    # Shell completion needs every command; a normal run only the one it was given.
    parser = build_parser(None if "_ARGCOMPLETE" in os.environ else words)
    _complete(parser)
    args = parser.parse_args(words)
    ctx = Context(args.config)
    try:
        code: int = args.handler(args, ctx)
        return code
    except (ConfigError, CatalogError, UsageError, UnsupportedDatabase) as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotFound as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except StoreUnavailable as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (StoreError, BadRequest) as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_STORE
    except BrokenPipeError:  # `consentctl history N | head`
        return EXIT_OK
    finally:
        ctx.close()


def _complete(parser: argparse.ArgumentParser) -> None:
    """Shell completion: answers argcomplete's request (set in the environment by the shell
    hook) and exits; does nothing on a normal run."""
    import os

    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def confirm(args: argparse.Namespace, what: str) -> None:
    """Destructive commands: ``--yes``, or a "yes" typed on a terminal; otherwise exit 2."""
    if getattr(args, "yes", False):
        return
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"{what}: this destroys data; add --yes to confirm "
                         "(no terminal to ask on)")
    sys.stderr.write(f"{what}: this destroys data and cannot be undone. Type yes to go on: ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError(f"{what}: not confirmed; nothing changed")


if __name__ == "__main__":
    sys.exit(main())
