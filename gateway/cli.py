"""Command line of the gateway: ``sms-gateway run``."""

from __future__ import annotations

import argparse
import sys

from config.logs import configure_logging
from config.settings import ConfigError, settings_for, source_for
from config.version import add_version_argument


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sms-gateway", description="SMPP gateway for SMS consents")
    ap.add_argument("--config", help="TOML file (default: $SMSGW_CONFIG, then "
                    "/etc/sms-gateway/gateway.toml; none of them is an error)")
    add_version_argument(ap)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    check = sub.add_parser("check-config", help="validate the configuration and print it")
    check.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        settings = settings_for(getattr(args, "config_sub", None) or args.config)
    except ConfigError as exc:
        print(f"sms-gateway: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "check-config":
        import json

        # What was read goes to stderr, so stdout stays one JSON document for scripts.
        for line in source_for(getattr(args, "config_sub", None) or args.config).lines():
            print(line, file=sys.stderr)
        print(json.dumps(settings.redacted(), indent=2))
        return 0
    configure_logging(settings.log, service="sms-gateway",
                      secrets=[settings.smpp.password.get_secret_value()])
    from gateway.daemon import Gateway

    return Gateway(settings).run()


if __name__ == "__main__":
    sys.exit(main())
