"""``consent-api run``: the HTTP API and the console on uvicorn, configured by ``[api]``.

Exit codes: 0 stopped cleanly, 2 configuration error (one line on stderr), 4 the store
failed at start-up (schema missing, database unreachable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_USAGE = 2
EXIT_STORE = 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent-api",
                                     description="HTTP API and customer-centre console of the consent store.")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="settings file (default: $SMSGW_CONFIG, then /etc/sms-gateway/gateway.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="serve on [api] host:port until SIGTERM")
    run.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from config.settings import settings_or_report

    args = build_parser().parse_args(argv)
    settings = settings_or_report("consent-api", args.config)
    return EXIT_USAGE if settings is None else run(settings, args.config)


def run(settings: object, config: str | None) -> int:
    import os

    import uvicorn

    from config.logs import configure_logging
    from config.settings import Settings
    from consent_store.engine import make_engine, require_head
    from consent_store.errors import StoreError

    assert isinstance(settings, Settings)
    configure_logging(settings.log, service="consent-api",
                      secrets=[settings.database.url.get_secret_value()])
    try:
        engine = make_engine(settings.database.url.get_secret_value())
        try:
            require_head(engine)
        finally:
            engine.dispose()
    except StoreError as exc:
        print(f"consent-api: {exc}", file=sys.stderr)
        return EXIT_STORE
    except Exception as exc:  # the database did not answer
        print(f"consent-api: database: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_STORE
    if config:
        os.environ["SMSGW_CONFIG"] = config  # worker processes load the same file
    api = settings.api
    import structlog

    structlog.get_logger("api").info("api.listening", host=api.host, port=api.port,
                                      workers=api.workers, console=f"http://{api.host}:{api.port}/console")
    uvicorn.run("consent_api.asgi:app", host=api.host, port=api.port, workers=api.workers,
                proxy_headers=True, forwarded_allow_ips="127.0.0.1", server_header=False,
                access_log=False,
                timeout_graceful_shutdown=int(api.changes_wait_max) + 5, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
