"""Entry point of ``consentctl``: global options, the subcommand registry, exit codes.

Adding commands: put a module in this package that defines

    def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None

and adds its subparsers with ``parents=[common]`` and ``set_defaults(handler=fn)``, where
``fn(args: argparse.Namespace, ctx: Context) -> int`` returns the exit code. Modules are
found by name (``pkgutil``), so no change to this file is needed (``consentctl/jobs.py``
for ``jobs failed``/``jobs requeue``, ``consentctl/status.py`` for ``status``, …).

Exit codes: 0 done, 1 not found, 2 usage or configuration error, 3 import finished but
some rows were bad, 4 the store failed (database unreachable, schema missing, …), 5 Redis did
not answer (and for ``status``: Redis or the database; it still prints what it read), 6 a
rule refused the change (grant/withdraw: refused or superseded), 8 the ledger's hash chain
does not verify (``verify``).
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
EXIT_VERIFY_FAILED = 8

# Built in here, in help order; other modules of the package are discovered after them.
_BUILTIN = ("database", "directory", "consents")
_NOT_COMMANDS = frozenset({"cli", "__main__", "output"})


class UsageError(Exception):
    """A bad argument value: one line on stderr, exit 2."""


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


def consent_arg(text: str) -> str:
    from consent_core.model import CONSENTS

    name = text.strip().upper()
    if name not in CONSENTS:
        raise argparse.ArgumentTypeError(
            f"unknown consent {text!r}; one of {', '.join(CONSENTS)}")
    return name


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # Also accepted after the subcommand; SUPPRESS keeps the global value when absent.
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="settings file (default: $SMSGW_CONFIG, then "
                             "/etc/sms-gateway/gateway.toml)")
    parser = argparse.ArgumentParser(
        prog="consentctl", description="Operator tool for the SMS consent store.",
        epilog="exit codes: 0 ok, 1 not found, 2 usage/config error, 3 import had bad rows, "
               "4 store error, 5 Redis unreachable (status: or the database), 6 refused by a "
               "rule, 8 ledger verification failed")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="settings file (default: $SMSGW_CONFIG, then "
                             "/etc/sms-gateway/gateway.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        register = getattr(module, "register", None)
        if callable(register):
            register(sub, common)
    return parser


def _command_modules() -> list[Any]:
    from pathlib import Path

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
    from consent_core.catalog import CatalogError
    from consent_store.errors import NotFound, StoreError

    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args.config)
    try:
        code: int = args.handler(args, ctx)
        return code
    except (ConfigError, CatalogError, UsageError) as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotFound as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except StoreError as exc:
        print(f"consentctl: {exc}", file=sys.stderr)
        return EXIT_STORE
    except BrokenPipeError:  # `consentctl history N | head`
        return EXIT_OK
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
